// CSV tables: a header line naming the columns, then one sample per line. The label column is
// chosen by name; every other column (less `ignore_columns`) is a numeric feature, so samples
// are [F] float vectors. Plain or gzipped; ',' or another delimiter; fields may be quoted
// ("a, b"), but a quoted field cannot span lines. Blank lines are skipped.
//
// Classes (Task::Classification): when every label is a non-negative integer, the label is the
// class index and the classes are "0" .. "max"; otherwise the classes are the distinct label
// strings in sorted (byte-wise) order: "setosa" < "versicolor" < "virginica".
// Task::Regression: the label column is one float target per sample (k = 1).
//
//   data::CsvOptions o;  o.label_column = "species";
//   auto iris = data::load_csv("iris.csv", o);   // [150] samples of [4], 3 classes
#pragma once

#include <string>
#include <vector>

#include "engine/data/dataset.h"

namespace ng::data {

struct CsvOptions {
  std::string label_column;  // required
  Task task = Task::Classification;
  char delimiter = ',';
  std::vector<std::string> ignore_columns;  // e.g. an "id" column
};

// Throws ng::Error naming the file, the line and the column (number and name) of a ragged row,
// an empty field or a field that is not a finite number, and the header's columns when the
// label column is not among them.
DatasetPtr load_csv(const std::string& path, const CsvOptions& options);

}  // namespace ng::data
