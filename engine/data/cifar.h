// CIFAR-10, binary version (cifar-10-binary.tar.gz from
// https://www.cs.toronto.edu/~kriz/cifar.html): data_batch_1.bin .. data_batch_5.bin (50,000
// training images) and test_batch.bin (10,000), each record 1 label byte + 3072 pixel bytes (1024
// red, 1024 green, 1024 blue, rows of 32). Samples are [3, 32, 32] with values in [0, 1].
//   auto train = data::load_cifar10("data/cifar-10-batches-bin", data::CifarSplit::Train);
#pragma once

#include <string>
#include <vector>

#include "engine/data/dataset.h"

namespace ng::data {

enum class CifarSplit { Train, Test };

// `dir` holds the .bin files, or holds the folder cifar-10-batches-bin that does. A missing
// folder or file gives a message that says where to put the files; a damaged file names the
// file and the byte offset of the bad record.
DatasetPtr load_cifar10(const std::string& dir, CifarSplit split);

// Reads one batch file, appending its [3, 32, 32] images to `pixels` and labels to `labels`.
void read_cifar10_batch(const std::string& path, std::vector<uint8_t>& pixels,
                        std::vector<int64_t>& labels);

inline const std::vector<std::string> kCifar10Classes = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

}  // namespace ng::data
