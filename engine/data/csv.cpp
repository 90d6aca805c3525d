#include "engine/data/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <string_view>

#include "engine/data/file_io.h"

namespace ng::data {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Splits one line into trimmed fields; "..." quotes a field ("" inside is one quote).
std::vector<std::string> split_fields(std::string_view line, char delim, const std::string& path,
                                      int64_t line_no) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field += line[i++];
      }
      NG_CHECK(closed, "CSV file '", path, "', line ", line_no, ": the quote opened at character ",
               open + 1, " is not closed (a quoted field cannot span lines)");
      while (i < line.size() && line[i] != delim) {
        NG_CHECK(line[i] == ' ' || line[i] == '\t' || line[i] == '\r', "CSV file '", path,
                 "', line ", line_no, ": unexpected '", line[i], "' after the quoted field ",
                 out.size() + 1);
        ++i;
      }
    } else {
      const size_t start = i;
      while (i < line.size() && line[i] != delim) ++i;
      field = std::string(trim(line.substr(start, i - start)));
    }
    out.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  return out;
}

bool is_blank(std::string_view s) {
  return trim(s).empty();
}

bool parse_float(const std::string& s, float& v) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  if (*b == '+') ++b;  // from_chars does not take a leading '+'
  auto [p, ec] = std::from_chars(b, e, v);
  return ec == std::errc() && p == e && std::isfinite(v);
}

bool is_class_index(const std::string& s) {
  return !s.empty() && s.size() <= 9 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

DatasetPtr load_csv(const std::string& path, const CsvOptions& opt) {
  NG_CHECK(!opt.label_column.empty(), "CSV file '", path, "': no label column given");
  bool gz = false;
  const std::vector<uint8_t> bytes = read_file(path, "CSV", &gz);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte-order mark

  // Lines, numbered from 1, blank ones dropped.
  std::vector<std::pair<int64_t, std::string_view>> lines;
  int64_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_no;
    std::string_view l = text.substr(pos, end - pos);
    if (!is_blank(l)) lines.emplace_back(line_no, l);
    pos = end + 1;
  }
  NG_CHECK(!lines.empty(), "CSV file '", path, "' is empty: it needs a header line");

  const std::vector<std::string> header =
      split_fields(lines[0].second, opt.delimiter, path, lines[0].first);
  const int64_t ncol = int64_t(header.size());
  int64_t label_col = -1;
  std::vector<int64_t> feature_cols;
  for (int64_t c = 0; c < ncol; ++c) {
    const std::string& h = header[size_t(c)];
    if (h == opt.label_column && label_col < 0)
      label_col = c;
    else if (std::find(opt.ignore_columns.begin(), opt.ignore_columns.end(), h) ==
             opt.ignore_columns.end())
      feature_cols.push_back(c);
  }
  if (label_col < 0) {
    std::string cols;
    for (const std::string& h : header) cols += (cols.empty() ? "'" : ", '") + h + "'";
    throw Error(detail::concat("CSV file '", path, "', line ", lines[0].first,
                               ": no label column '", opt.label_column, "'; the columns are ",
                               cols));
  }
  NG_CHECK(!feature_cols.empty(), "CSV file '", path, "': no feature columns besides the label '",
           opt.label_column, "'");
  const auto nf = int64_t(feature_cols.size());
  const auto n = int64_t(lines.size()) - 1;
  NG_CHECK(n > 0, "CSV file '", path, "': a header but no rows");

  std::vector<float> features(size_t(n * nf));
  std::vector<std::string> label_text(static_cast<size_t>(n));
  std::vector<float> targets;
  auto column_name = [&](int64_t c) {
    return detail::concat("column ", c + 1, " ('", header[size_t(c)], "')");
  };
  for (int64_t r = 0; r < n; ++r) {
    const auto& [ln, l] = lines[size_t(r + 1)];
    const std::vector<std::string> f = split_fields(l, opt.delimiter, path, ln);
    NG_CHECK(int64_t(f.size()) == ncol, "CSV file '", path, "', line ", ln, ": ", f.size(),
             " fields, but the header (line ", lines[0].first, ") has ", ncol);
    for (int64_t k = 0; k < nf; ++k) {
      const int64_t c = feature_cols[size_t(k)];
      const std::string& s = f[size_t(c)];
      float v = 0;
      NG_CHECK(parse_float(s, v), "CSV file '", path, "', line ", ln, ", ", column_name(c), ": ",
               s.empty() ? std::string("empty field") : "'" + s + "'", " is not a finite number");
      features[size_t(r * nf + k)] = v;
    }
    const std::string& s = f[size_t(label_col)];
    NG_CHECK(!s.empty(), "CSV file '", path, "', line ", ln, ", ", column_name(label_col),
             ": empty label");
    if (opt.task == Task::Regression) {
      float v = 0;
      NG_CHECK(parse_float(s, v), "CSV file '", path, "', line ", ln, ", ", column_name(label_col),
               ": target '", s, "' is not a finite number");
      targets.push_back(v);
    } else {
      label_text[size_t(r)] = s;
    }
  }

  const std::string name = std::filesystem::path(path).filename().string();
  if (opt.task == Task::Regression) {
    auto ds = InMemoryDataset::regression(name, {nf}, n, 1);
    std::copy(features.begin(), features.end(), ds->float_features(0));
    ds->targets() = std::move(targets);
    return ds;
  }
  // Classes: integer labels are indices; otherwise sorted distinct strings.
  std::vector<std::string> classes;
  std::vector<int64_t> labels(static_cast<size_t>(n));
  if (std::all_of(label_text.begin(), label_text.end(), is_class_index)) {
    int64_t max_label = 0;
    for (int64_t r = 0; r < n; ++r) {
      labels[size_t(r)] = std::stoll(label_text[size_t(r)]);
      max_label = std::max(max_label, labels[size_t(r)]);
    }
    NG_CHECK(max_label < 100000, "CSV file '", path, "': class index ", max_label, " in ",
             column_name(label_col), " is implausibly large");
    for (int64_t c = 0; c <= max_label; ++c) classes.push_back(std::to_string(c));
  } else {
    std::map<std::string, int64_t> index;
    for (const std::string& s : label_text) index.emplace(s, 0);
    for (auto& [s, i] : index) {
      i = int64_t(classes.size());
      classes.push_back(s);
    }
    for (int64_t r = 0; r < n; ++r) labels[size_t(r)] = index[label_text[size_t(r)]];
  }
  auto ds = InMemoryDataset::classification(name, {nf}, n, std::move(classes));
  std::copy(features.begin(), features.end(), ds->float_features(0));
  ds->labels() = std::move(labels);
  return ds;
}

}  // namespace ng::data
