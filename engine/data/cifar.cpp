#include "engine/data/cifar.h"

#include <cstring>
#include <filesystem>

#include "engine/data/file_io.h"

namespace ng::data {

namespace fs = std::filesystem;

namespace {
constexpr int64_t kPixels = 3 * 32 * 32, kRecord = 1 + kPixels;

std::string where_to_put(const std::string& dir) {
  return detail::concat(
      "download the CIFAR-10 binary version (cifar-10-binary.tar.gz from "
      "https://www.cs.toronto.edu/~kriz/cifar.html) and extract it so that '",
      (fs::path(dir) / "data_batch_1.bin").string(), "' .. 'data_batch_5.bin' and '",
      (fs::path(dir) / "test_batch.bin").string(), "' exist");
}
}  // namespace

void read_cifar10_batch(const std::string& path, std::vector<uint8_t>& pixels,
                        std::vector<int64_t>& labels) {
  bool gz = false;
  std::vector<uint8_t> bytes = read_file(path, "CIFAR-10", &gz);
  const uint64_t n = bytes.size() / kRecord, rest = bytes.size() % kRecord;
  NG_CHECK(rest == 0, "CIFAR-10 file '", path, "': truncated record ", n, " at ",
           byte_offset_str(n * kRecord, gz), ": ", rest, " of ", kRecord,
           " bytes (1 label + 3072 pixels per record)");
  NG_CHECK(n > 0, "CIFAR-10 file '", path, "' is empty");
  const size_t base = pixels.size();
  pixels.resize(base + n * kPixels);
  for (uint64_t r = 0; r < n; ++r) {
    const uint8_t* rec = bytes.data() + r * kRecord;
    NG_CHECK(rec[0] < 10, "CIFAR-10 file '", path, "': record ", r, " at ",
             byte_offset_str(r * kRecord, gz), " has label ", int(rec[0]),
             " (0 to 9 expected; is this CIFAR-100 or another format?)");
    labels.push_back(rec[0]);
    std::memcpy(pixels.data() + base + r * kPixels, rec + 1, kPixels);  // already [3, 32, 32]
  }
}

DatasetPtr load_cifar10(const std::string& dir_in, CifarSplit split) {
  std::string dir = dir_in;
  if (fs::is_directory(fs::path(dir) / "cifar-10-batches-bin") &&
      !fs::exists(fs::path(dir) / "test_batch.bin"))
    dir = (fs::path(dir) / "cifar-10-batches-bin").string();
  NG_CHECK(fs::is_directory(dir), "CIFAR-10: folder '", dir_in, "' not found; ",
           where_to_put(dir_in));
  std::vector<std::string> files;
  if (split == CifarSplit::Train)
    for (int b = 1; b <= 5; ++b) files.push_back("data_batch_" + std::to_string(b) + ".bin");
  else
    files.push_back("test_batch.bin");
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& f : files) {
    const std::string path = (fs::path(dir) / f).string();
    NG_CHECK(fs::exists(path), "CIFAR-10: '", path, "' not found; ", where_to_put(dir));
    read_cifar10_batch(path, pixels, labels);
  }
  const auto n = int64_t(labels.size());
  auto ds = InMemoryDataset::classification(
      split == CifarSplit::Train ? "CIFAR-10 train" : "CIFAR-10 test", {3, 32, 32}, n,
      kCifar10Classes, InMemoryDataset::Storage::Bytes);
  std::memcpy(ds->byte_features(0), pixels.data(), pixels.size());
  ds->labels() = std::move(labels);
  return ds;
}

}  // namespace ng::data
