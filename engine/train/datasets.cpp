#include "engine/train/datasets.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "engine/data/cifar.h"
#include "engine/data/csv.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"
#include "engine/data/synthetic.h"
#if __has_include("stb_image.h")  // libstb-dev; without it image folders are refused on load
#include "stb_image.h"            // stbi_info only (compiled in engine/data/stb_image_impl.cpp)
#define NG_HAVE_STB_IMAGE 1
#endif

namespace ng::train {

namespace fs = std::filesystem;

namespace {

std::string resolve(const std::string& path, const std::string& project_dir) {
  fs::path p(path);
  if (p.is_absolute() || project_dir.empty()) return p.lexically_normal().string();
  return (fs::path(project_dir) / p).lexically_normal().string();
}

// datasets/mnist in project_dir or the nearest folder above it that has one; project_dir's own
// datasets/mnist when none does (the error then names it).
std::string find_mnist(const std::string& project_dir) {
  fs::path start = fs::absolute(project_dir.empty() ? fs::path(".") : fs::path(project_dir));
  for (fs::path d = start.lexically_normal();; d = d.parent_path()) {
    if (fs::is_directory(d / "datasets" / "mnist")) return (d / "datasets" / "mnist").string();
    if (d == d.parent_path()) break;
  }
  return (start / "datasets" / "mnist").lexically_normal().string();
}

// The size and channels of the first readable image of the first class folder (sorted), for
// image_size [] / channels 0 ("as stored"). {0, 0, 0} when none is found (the loader then
// reports the folder's problem).
struct StoredImage {
  int height = 0, width = 0, channels = 0;
};
StoredImage first_image(const std::string& root) {
#ifndef NG_HAVE_STB_IMAGE
  (void)root;
  return {};  // no decoder: load_image_folder says so when the folder is loaded
#else
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && e.path().filename().string().front() != '.') classes.push_back(e);
  std::sort(classes.begin(), classes.end());
  for (const fs::path& c : classes) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(c, ec))
      if (e.is_regular_file() && e.path().filename().string().front() != '.') files.push_back(e);
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      int w = 0, h = 0, comp = 0;
      if (stbi_info(f.string().c_str(), &w, &h, &comp)) return {h, w, comp};
    }
  }
  return {};
#endif
}

std::string require_path(const DatasetSpec& s) {
  NG_CHECK(!s.path.empty(), "dataset.path: kind '", s.kind, "' needs a path");
  return s.path;
}

}  // namespace

TrainingData make_datasets(const DatasetSpec& s, const std::string& project_dir) {
  TrainingData d;
  NG_CHECK(s.val_fraction >= 0.0 && s.val_fraction < 1.0,
           "dataset.val_fraction: must be in [0, 1), got ", s.val_fraction);
  // Splits `all` into train/val by val_fraction; `random` draws the validation samples.
  auto split = [&](const data::DatasetPtr& all, bool random) {
    if (s.val_fraction <= 0.0) {
      d.train = all;
      return;
    }
    data::SplitMode mode = all->task() == data::Task::Classification ? data::SplitMode::PerClass
                                                                     : data::SplitMode::Plain;
    std::optional<uint64_t> seed;
    if (random || mode == data::SplitMode::Plain) seed = s.seed;
    auto [tr, va] = data::split(all, 1.0 - s.val_fraction, mode, seed);
    d.train = tr;
    d.val = va->size() > 0 ? va : nullptr;
  };

  try {
    if (s.kind == "mnist") {
      std::string dir = s.path.empty() ? find_mnist(project_dir) : resolve(s.path, project_dir);
      auto [tr, va] = data::load_mnist_sample(dir);
      d.train = tr;
      d.val = va;
    } else if (s.kind == "idx") {
      std::string dir = resolve(require_path(s), project_dir);
      data::DatasetPtr tr = data::load_idx_folder(dir, "train");
      bool has_test = fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte") ||
                      fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte.gz");
      if (has_test) {
        d.train = tr;
        d.val = data::load_idx_folder(dir, "t10k");
      } else {
        split(tr, false);
      }
    } else if (s.kind == "cifar10") {
      std::string dir = resolve(require_path(s), project_dir);
      d.train = data::load_cifar10(dir, data::CifarSplit::Train);
      d.val = data::load_cifar10(dir, data::CifarSplit::Test);
    } else if (s.kind == "csv") {
      data::CsvOptions o;
      NG_CHECK(!s.label_column.empty(),
               "dataset.label_column: kind 'csv' needs the name of the "
               "label column");
      NG_CHECK(s.task == "classification" || s.task == "regression",
               "dataset.task: must be 'classification' or 'regression', got '", s.task, "'");
      o.label_column = s.label_column;
      o.task = s.task == "regression" ? data::Task::Regression : data::Task::Classification;
      split(data::load_csv(resolve(require_path(s), project_dir), o), false);
    } else if (s.kind == "image_folder") {
      const std::string root = resolve(require_path(s), project_dir);
      data::ImageFolderOptions o;
      const StoredImage stored =
          s.image_size.empty() || s.channels == 0 ? first_image(root) : StoredImage{};
      if (!s.image_size.empty()) {
        NG_CHECK(s.image_size.size() == 2 && s.image_size[0] > 0 && s.image_size[1] > 0,
                 "dataset.image_size: must be [height, width] with positive sizes");
        o.height = s.image_size[0];
        o.width = s.image_size[1];
      } else if (stored.width > 0) {  // as stored: the first image's size
        o.height = stored.height;
        o.width = stored.width;
      }
      NG_CHECK(s.channels == 0 || s.channels == 1 || s.channels == 3,
               "dataset.channels: must be 1, 3 or 0 (as stored), got ", s.channels);
      const bool grey = s.channels == 1 || (s.channels == 0 && stored.channels > 0 &&
                                            stored.channels <= 2);  // grey, grey + alpha
      o.color = grey ? data::ColorMode::Grayscale : data::ColorMode::RGB;
      split(data::load_image_folder(root, o), false);
    } else if (s.kind == "synthetic") {
      std::string gen = s.generator == "regression1d" ? "sine" : s.generator;
      split(data::make_synthetic(gen, s.size, s.noise, s.seed, s.classes), true);
    } else {
      throw Error(detail::concat("dataset.kind: unknown kind '", s.kind,
                                 "' (known: mnist, idx, cifar10, csv, image_folder, synthetic)"));
    }
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("dataset.", 0) == 0) throw;
    throw Error("dataset (kind '" + s.kind + "'): " + msg);
  }

  NG_CHECK(d.train && d.train->size() > 0, "dataset (kind '", s.kind,
           "'): the training split is empty");
  if (s.normalize) d.normalization = data::compute_normalization(*d.train);
  NG_CHECK(s.augment_crop_padding >= 0, "dataset.augment_crop_padding: must be >= 0, got ",
           s.augment_crop_padding);
  d.augmentation.crop_padding = s.augment_crop_padding;
  d.augmentation.horizontal_flip = s.augment_flip;
  return d;
}

}  // namespace ng::train
