// Reading whole data files for the loaders: plain or gzip-compressed (zlib reads a plain file as
// it is), with messages that name the file.
//   bool gz = false;
//   std::vector<uint8_t> bytes = data::read_file("train-images-idx3-ubyte.gz", "IDX", &gz);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ng::data {

// The file's bytes, decompressed when it is gzip (then *gzipped is set). Throws ng::Error
// "<who>: ..." naming the file when it is missing, unreadable or a damaged gzip stream.
std::vector<uint8_t> read_file(const std::string& path, const std::string& who,
                               bool* gzipped = nullptr);

// "byte offset 1234" or, for a gzip file, "byte offset 1234 of the decompressed data".
std::string byte_offset_str(uint64_t offset, bool gzipped);

}  // namespace ng::data
