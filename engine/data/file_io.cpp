#include "engine/data/file_io.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/core/error.h"

namespace ng::data {

namespace fs = std::filesystem;

namespace {
// zlib's message without the "<path>: " it puts in front.
std::string gz_message(const char* msg, const std::string& path) {
  std::string m = msg ? msg : "unknown error";
  if (m.rfind(path + ": ", 0) == 0) m.erase(0, path.size() + 2);
  return m;
}
}  // namespace

std::vector<uint8_t> read_file(const std::string& path, const std::string& who, bool* gzipped) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  NG_CHECK(fs::exists(st), who, ": file '", path, "' not found");
  NG_CHECK(fs::is_regular_file(st), who, ": '", path, "' is not a regular file");

  gzFile f = gzopen(path.c_str(), "rb");
  NG_CHECK(f != nullptr, who, ": cannot open '", path, "': ", std::strerror(errno));
  gzbuffer(f, 1 << 17);
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    const int got = gzread(f, chunk.data(), unsigned(chunk.size()));
    if (got < 0) {
      int code = 0;
      std::string msg = gz_message(gzerror(f, &code), path);
      const bool gz = gzdirect(f) == 0;
      gzclose(f);
      throw Error(detail::concat(who, ": reading '", path, "' failed after ", out.size(),
                                 gz ? " decompressed bytes: " : " bytes: ", msg));
    }
    out.insert(out.end(), chunk.begin(), chunk.begin() + got);
    if (got < int(chunk.size())) break;
  }
  // A gzip stream cut short reads as end of file with Z_BUF_ERROR ("unexpected end of file").
  int code = 0;
  const char* msg = gzerror(f, &code);
  const bool gz = gzdirect(f) == 0;
  std::string err = code != Z_OK ? gz_message(msg, path) : std::string();
  gzclose(f);
  NG_CHECK(err.empty(), who, ": '", path, "' is a damaged gzip file: ", err, " after ", out.size(),
           " decompressed bytes");
  if (gzipped) *gzipped = gz;
  return out;
}

std::string byte_offset_str(uint64_t offset, bool gzipped) {
  return detail::concat("byte offset ", offset, gzipped ? " of the decompressed data" : "");
}

}  // namespace ng::data
