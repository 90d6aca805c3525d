#include "engine/data/image_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#if __has_include("stb_image.h")
#include "stb_image.h"
#define NG_HAVE_STB_IMAGE 1
#endif

namespace ng::data {

namespace fs = std::filesystem;

void resize_bilinear(const uint8_t* src, int64_t sw, int64_t sh, int64_t ch, uint8_t* dst,
                     int64_t dw, int64_t dh) {
  if (sw == dw && sh == dh) {
    std::copy(src, src + sw * sh * ch, dst);
    return;
  }
  // Source coordinate of destination pixel centre d: (d + 0.5) * s / D - 0.5, clamped.
  auto axis = [](int64_t d, int64_t s, int64_t D, int64_t& i0, int64_t& i1, float& t) {
    float x = (float(d) + 0.5f) * float(s) / float(D) - 0.5f;
    x = std::clamp(x, 0.0f, float(s - 1));
    i0 = int64_t(x);
    i1 = std::min(i0 + 1, s - 1);
    t = x - float(i0);
  };
  for (int64_t y = 0; y < dh; ++y) {
    int64_t y0, y1;
    float ty;
    axis(y, sh, dh, y0, y1, ty);
    for (int64_t x = 0; x < dw; ++x) {
      int64_t x0, x1;
      float tx;
      axis(x, sw, dw, x0, x1, tx);
      for (int64_t c = 0; c < ch; ++c) {
        auto px = [&](int64_t yy, int64_t xx) { return float(src[(yy * sw + xx) * ch + c]); };
        const float top = px(y0, x0) + (px(y0, x1) - px(y0, x0)) * tx;
        const float bot = px(y1, x0) + (px(y1, x1) - px(y1, x0)) * tx;
        const float v = top + (bot - top) * ty;
        dst[(y * dw + x) * ch + c] = uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
}

namespace {

[[maybe_unused]] bool hidden(const fs::path& p) {
  const std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

}  // namespace

DatasetPtr load_image_folder(const std::string& root, const ImageFolderOptions& opt) {
#ifndef NG_HAVE_STB_IMAGE
  throw Error(detail::concat("image folder '", root,
                             "': this build has no image decoder (stb_image.h was not found); "
                             "install libstb-dev and rebuild"));
#else
  NG_CHECK(opt.width >= 1 && opt.height >= 1 && opt.width <= 4096 && opt.height <= 4096,
           "image folder '", root, "': image size ", opt.width, " x ", opt.height,
           " must lie in 1 .. 4096");
  NG_CHECK(fs::is_directory(root), "image folder '", root,
           "' not found (expected one sub-folder per class: ", root, "/<class>/<image>.png)");
  std::vector<fs::path> class_dirs;
  for (const fs::directory_entry& e : fs::directory_iterator(root))
    if (e.is_directory() && !hidden(e.path())) class_dirs.push_back(e.path());
  std::sort(class_dirs.begin(), class_dirs.end());
  NG_CHECK(!class_dirs.empty(), "image folder '", root, "' has no class sub-folders (expected ",
           root, "/<class>/<image>.png)");

  std::vector<std::string> classes;
  std::vector<std::pair<fs::path, int64_t> > files;  // (image, class)
  for (const fs::path& d : class_dirs) {
    const auto c = int64_t(classes.size());
    classes.push_back(d.filename().string());
    std::vector<fs::path> mine;
    for (auto it = fs::recursive_directory_iterator(d); it != fs::recursive_directory_iterator();
         ++it) {
      if (hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) mine.push_back(it->path());
    }
    NG_CHECK(!mine.empty(), "image folder '", root, "': class folder '", d.string(),
             "' holds no images");
    std::sort(mine.begin(), mine.end());
    for (fs::path& p : mine) files.emplace_back(std::move(p), c);
  }

  const int64_t C = opt.color == ColorMode::RGB ? 3 : 1, H = opt.height, W = opt.width;
  auto ds = InMemoryDataset::classification(fs::path(root).filename().string(), {C, H, W},
                                            int64_t(files.size()), std::move(classes),
                                            InMemoryDataset::Storage::Bytes);
  std::vector<uint8_t> hwc(size_t(H * W * C));
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string path = files[i].first.string();
    int w = 0, h = 0, comp = 0;
    std::unique_ptr<uint8_t, void (*)(void*)> img(stbi_load(path.c_str(), &w, &h, &comp, int(C)),
                                                  stbi_image_free);
    NG_CHECK(img != nullptr, "image folder '", root, "': '", path, "' is not a readable image (",
             stbi_failure_reason() ? stbi_failure_reason() : "unknown reason", ")");
    resize_bilinear(img.get(), w, h, C, hwc.data(), W, H);
    // [H, W, C] -> [C, H, W]
    uint8_t* out = ds->byte_features(int64_t(i));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < H * W; ++p) out[c * H * W + p] = hwc[size_t(p * C + c)];
    ds->labels()[i] = files[i].second;
  }
  return ds;
#endif
}

}  // namespace ng::data
