// Image folders: one sub-folder per class, each holding that class's images (PNG, JPEG, and the
// other formats stb_image reads: BMP, GIF, TGA, PSD, PNM). Classes are the sub-folder names in
// sorted order; images are resized (bilinear) to the size asked for and kept as bytes, so
// samples are [1 or 3, height, width] with values in [0, 1].
//
//   root/cat/001.png  root/cat/002.jpg  root/dog/a.png ...
//   data::ImageFolderOptions o;  o.width = o.height = 32;  o.color = data::ColorMode::RGB;
//   auto pets = data::load_image_folder("root", o);    // classes {"cat", "dog"}
//
// Hidden entries (names starting with '.') and files directly in `root` are ignored; files in
// folders nested inside a class folder belong to that class. Any other file that is not an
// image is an error that names it.
#pragma once

#include <cstdint>
#include <string>

#include "engine/data/dataset.h"

namespace ng::data {

enum class ColorMode { Grayscale, RGB };

struct ImageFolderOptions {
  int64_t width = 32, height = 32;
  ColorMode color = ColorMode::RGB;
};

// Throws ng::Error naming the folder when it is missing or has no class folders or an empty
// class, and naming the file (with stb_image's reason) when a file is not a readable image.
DatasetPtr load_image_folder(const std::string& root, const ImageFolderOptions& options);

// Bilinear resize of an interleaved 8-bit image [sh, sw, c] to [dh, dw, c], sampling at pixel
// centres (as OpenCV's INTER_LINEAR and PyTorch's align_corners=False), edges clamped.
void resize_bilinear(const uint8_t* src, int64_t sw, int64_t sh, int64_t channels, uint8_t* dst,
                     int64_t dw, int64_t dh);

}  // namespace ng::data
