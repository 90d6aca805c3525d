// HDF5 checkpoints: exact round trip, atomic replacement, bad files, and the fixture that
// tests/engine/read_checkpoint.py reads with h5py (ctest
// CheckpointInterop.H5pyReadsEveryDocumentedName).
#include <H5Cpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "engine/core/error.h"
#include "engine/io/checkpoint.h"

using namespace ng;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("ng_checkpoint_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Names in the directory other than `keep`.
  std::vector<std::string> others(const std::string& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    return out;
  }
};

// Files, groups, datasets and attributes open anywhere in the process.
ssize_t open_hdf5_objects() {
  return H5Fget_obj_count(H5F_OBJ_ALL,
                          H5F_OBJ_FILE | H5F_OBJ_GROUP | H5F_OBJ_DATASET | H5F_OBJ_ATTR);
}

float f32_from_bits(uint32_t bits) {
  return std::bit_cast<float>(bits);
}

// A checkpoint that exercises every part of the layout: odd node ids, scalars, empty and
// non-contiguous tensors, special float values, 64-bit RNG state above 2^63, several dtypes.
Checkpoint rich_checkpoint() {
  Checkpoint c;
  c.graph_json =
      "{\"nodes\": [{\"id\": \"conv1\", \"type\": \"Conv2d\"}], \"note\": \"Grüße, λ\"}\n";
  c.app_version = "0.1.0-test";
  c.created = "2026-11-26T14:03:07Z";

  std::vector<float> w(2 * 3 * 2 * 2);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f * float(i) - 1.0f;
  w[0] = -0.0f;
  w[1] = f32_from_bits(0x7fc12345u);  // NaN with a payload
  w[2] = std::numeric_limits<float>::infinity();
  w[3] = f32_from_bits(0x00000001u);  // smallest denormal
  c.weights.push_back({"conv1", "weight", Tensor::from_vector(w, {2, 3, 2, 2})});
  c.weights.push_back({"conv1", "bias", Tensor::from_vector<float>({0.5f, -0.25f}, {2})});
  // Node ids with the characters the layout must escape, in non-alphabetical order.
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1);  // [3, 2] view
  c.weights.push_back({"block1/conv", "weight", t});
  c.weights.push_back({"100%/x", "scale", Tensor::scalar(3.5)});
  c.weights.push_back({".", "empty", Tensor::zeros({0, 4})});
  c.weights.push_back({"a", "w/1", Tensor::from_vector<float>({7}, {1})});

  c.buffers.push_back({"bn1", "running_mean", Tensor::from_vector<float>({0.1f, 0.2f}, {2})});
  c.buffers.push_back({"bn1", "running_var", Tensor::from_vector<float>({1.5f, 2.5f}, {2})});
  c.buffers.push_back(
      {"bn1", "num_batches_tracked", Tensor::from_vector<int64_t>({int64_t(1) << 40}, {})});
  c.buffers.push_back({"stats", "double", Tensor::from_vector<double>({1.0 / 3.0, 1e-300}, {2})});

  c.optimizer.type = "adam";
  c.optimizer.hyper = {{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}};
  c.optimizer.params.push_back({"conv1",
                                "weight",
                                {{"exp_avg", Tensor::full({2, 3, 2, 2}, 0.125)},
                                 {"exp_avg_sq", Tensor::full({2, 3, 2, 2}, 1.0 / 7.0)}},
                                {{"step", 120}}});
  c.optimizer.params.push_back(
      {"block1/conv", "weight", {{"exp_avg", Tensor::from_vector<float>({-1, 2}, {2})}}, {}});

  c.training.epoch = 7;
  c.training.step = 123456789012;
  c.training.rng_seed = 0xFEDCBA9876543211ull;          // needs all 64 bits
  c.training.rng_offset = (uint64_t(1) << 63) + 12345;  // above int64's range
  c.training.best_metric_name = "val_accuracy";
  c.training.best_metric = 0.987654321012345;
  c.training.best_epoch = 5;
  c.training.history["train_loss"] = {2.302585092994046, 0.5, 1.0 / 3.0};
  c.training.history["val_accuracy"] = {0.1, 0.9, 0.987654321012345};
  c.training.history["lr"] = {};
  return c;
}

void expect_bitwise_equal(const Tensor& expected, const Tensor& got, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  EXPECT_EQ(got.dtype(), expected.dtype()) << what;
  ASSERT_EQ(got.shape(), expected.shape()) << what;
  EXPECT_TRUE(got.device().is_cpu()) << what;
  Tensor e = expected.detach().contiguous();
  Tensor g = got.contiguous();
  EXPECT_EQ(std::memcmp(e.raw_data(), g.raw_data(), e.nbytes()), 0) << what << " differs";
}

void expect_same_tensors(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].node, a[i].node) << i;
    EXPECT_EQ(b[i].name, a[i].name) << i;
    expect_bitwise_equal(a[i].tensor, b[i].tensor, a[i].node + "/" + a[i].name);
  }
}

void expect_same_checkpoint(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(b.graph_json, a.graph_json);
  EXPECT_EQ(b.app_version, a.app_version);
  EXPECT_EQ(b.created, a.created);
  expect_same_tensors(a.weights, b.weights);
  expect_same_tensors(a.buffers, b.buffers);
  EXPECT_EQ(b.optimizer.type, a.optimizer.type);
  EXPECT_EQ(b.optimizer.hyper, a.optimizer.hyper);
  ASSERT_EQ(b.optimizer.params.size(), a.optimizer.params.size());
  for (size_t i = 0; i < a.optimizer.params.size(); ++i) {
    const auto &pa = a.optimizer.params[i], &pb = b.optimizer.params[i];
    EXPECT_EQ(pb.node, pa.node);
    EXPECT_EQ(pb.param, pa.param);
    EXPECT_EQ(pb.scalars, pa.scalars);
    ASSERT_EQ(pb.tensors.size(), pa.tensors.size()) << pa.qualified_name();
    for (const auto& [name, t] : pa.tensors) {
      auto it = pb.tensors.find(name);
      ASSERT_NE(it, pb.tensors.end()) << name;
      expect_bitwise_equal(t, it->second, pa.qualified_name() + "/" + name);
    }
  }
  const auto &ta = a.training, &tb = b.training;
  EXPECT_EQ(tb.epoch, ta.epoch);
  EXPECT_EQ(tb.step, ta.step);
  EXPECT_EQ(tb.rng_seed, ta.rng_seed);
  EXPECT_EQ(tb.rng_offset, ta.rng_offset);
  EXPECT_EQ(tb.best_metric_name, ta.best_metric_name);
  EXPECT_EQ(std::bit_cast<uint64_t>(tb.best_metric), std::bit_cast<uint64_t>(ta.best_metric));
  EXPECT_EQ(tb.best_epoch, ta.best_epoch);
  EXPECT_EQ(tb.history, ta.history);
}

// Runs load_checkpoint, expecting an ng::Error whose message contains the path and every one
// of `parts`, and nothing printed by HDF5 on stderr. Returns the message.
std::string load_error(const std::string& path, const std::vector<std::string>& parts) {
  std::string msg;
  ::testing::internal::CaptureStderr();
  try {
    load_checkpoint(path);
    ADD_FAILURE() << "load_checkpoint(" << path << ") did not throw";
  } catch (const Error& e) {
    msg = e.what();
  } catch (...) {
    ADD_FAILURE() << "load_checkpoint threw something other than ng::Error";
  }
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "") << "HDF5 printed to stderr";
  EXPECT_EQ(open_hdf5_objects(), 0) << "a failed load left HDF5 objects open";
  EXPECT_NE(msg.find("checkpoint '" + path + "'"), std::string::npos) << msg;
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  return msg;
}

}  // namespace

TEST(Checkpoint, RoundTripIsExact) {
  TempDir dir;
  Checkpoint c = rich_checkpoint();
  save_checkpoint(c, dir.file("run.h5"));
  EXPECT_EQ(open_hdf5_objects(), 0) << "save left HDF5 objects open";
  Checkpoint back = load_checkpoint(dir.file("run.h5"));
  EXPECT_EQ(open_hdf5_objects(), 0) << "load left HDF5 objects open";
  expect_same_checkpoint(c, back);
  // The transposed view was written in its logical (row-major) order.
  EXPECT_EQ(back.weights[2].tensor.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(back.training.rng_seed, 0xFEDCBA9876543211ull);
  EXPECT_EQ(back.training.rng_offset, 9223372036854788153ull);
}

TEST(Checkpoint, SavingAgainReplacesTheFile) {
  TempDir dir;
  Checkpoint c = rich_checkpoint();
  save_checkpoint(c, dir.file("run.h5"));
  c.training.epoch = 8;
  c.weights[1].tensor = Tensor::from_vector<float>({9, 9}, {2});
  save_checkpoint(c, dir.file("run.h5"));
  expect_same_checkpoint(c, load_checkpoint(dir.file("run.h5")));
  EXPECT_TRUE(dir.others("run.h5").empty());
}

TEST(Checkpoint, EmptyCheckpointRoundTripsAndGetsACreationTime) {
  TempDir dir;
  Checkpoint c;  // no weights, no optimizer, no history
  c.created.clear();
  save_checkpoint(c, dir.file("empty.h5"));
  Checkpoint back = load_checkpoint(dir.file("empty.h5"));
  EXPECT_TRUE(back.weights.empty());
  EXPECT_TRUE(back.optimizer.params.empty());
  EXPECT_EQ(back.app_version, NG_VERSION);
  EXPECT_TRUE(std::isnan(back.training.best_metric));
  EXPECT_EQ(back.training.best_epoch, -1);
  EXPECT_TRUE(std::regex_match(back.created, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << back.created;
}

TEST(Checkpoint, NodeIdsAreEscapedIntoOneLinkName) {
  EXPECT_EQ(escape_checkpoint_name("conv1"), "conv1");
  EXPECT_EQ(escape_checkpoint_name("block1/conv"), "block1%2Fconv");
  EXPECT_EQ(escape_checkpoint_name("100%/x"), "100%25%2Fx");
  EXPECT_EQ(escape_checkpoint_name("."), "%2E");
  EXPECT_EQ(escape_checkpoint_name(".."), "..");
  for (std::string s : {"conv1", "block1/conv", "100%/x", ".", "%2F", "a//b%", "λ/μ"})
    EXPECT_EQ(unescape_checkpoint_name(escape_checkpoint_name(s)), s);

  TempDir dir;
  save_checkpoint(rich_checkpoint(), dir.file("run.h5"));
  H5::H5File f(dir.file("run.h5"), H5F_ACC_RDONLY);
  EXPECT_TRUE(f.nameExists("/weights/block1%2Fconv/weight"));
  EXPECT_TRUE(f.nameExists("/weights/100%25%2Fx/scale"));
  EXPECT_TRUE(f.nameExists("/weights/%2E/empty"));
  EXPECT_TRUE(f.nameExists("/weights/a/w%2F1"));
  EXPECT_TRUE(f.nameExists("/optimizer/state/block1%2Fconv/weight/exp_avg"));
  EXPECT_FALSE(f.nameExists("/weights/block1"));
}

TEST(Checkpoint, DatasetsCarryTheirShapeAttribute) {
  TempDir dir;
  save_checkpoint(rich_checkpoint(), dir.file("run.h5"));
  H5::H5File f(dir.file("run.h5"), H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet("/weights/conv1/weight");
  EXPECT_EQ(ds.getDataType(), H5::PredType::IEEE_F32LE);
  H5::Attribute a = ds.openAttribute("shape");
  std::vector<int64_t> shape(4);
  ASSERT_EQ(a.getSpace().getSimpleExtentNpoints(), 4);
  a.read(H5::PredType::NATIVE_INT64, shape.data());
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3, 2, 2}));
}

TEST(Checkpoint, FailedWriteKeepsThePreviousCheckpointAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  Checkpoint first = rich_checkpoint();
  save_checkpoint(first, path);
  Checkpoint second = rich_checkpoint();
  second.training.epoch = 99;

  static std::string seen_temp;
  static std::string fail_at;
  for (const char* stage : {"temp_created", "temp_written"}) {
    SCOPED_TRACE(stage);
    seen_temp.clear();
    fail_at = stage;
    detail::set_checkpoint_save_hook([](const char* s, const std::string& temp) {
      if (fail_at != s) return;
      seen_temp = temp;
      EXPECT_TRUE(fs::exists(temp)) << "the hook runs while the temporary file exists";
      throw Error("simulated crash at " + fail_at);
    });
    EXPECT_THROW(save_checkpoint(second, path), Error);
    detail::set_checkpoint_save_hook(nullptr);
    EXPECT_NE(seen_temp.find(path + "."), std::string::npos) << seen_temp;
    EXPECT_EQ(seen_temp.substr(seen_temp.size() - 4), ".tmp");
    EXPECT_FALSE(fs::exists(seen_temp));
    EXPECT_TRUE(dir.others("run.h5").empty());
    EXPECT_EQ(open_hdf5_objects(), 0);
    expect_same_checkpoint(first, load_checkpoint(path));
  }
}

TEST(Checkpoint, HDF5FailureMidWriteBecomesAnErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  save_checkpoint(rich_checkpoint(), path);
  detail::set_checkpoint_save_hook([](const char* s, const std::string&) {
    if (std::string(s) == "temp_created")
      throw H5::FileIException("H5Dwrite", "simulated disk full");
  });
  Checkpoint other = rich_checkpoint();
  other.graph_json = "{}";
  std::string msg;
  try {
    save_checkpoint(other, path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    msg = e.what();
  } catch (...) {
    ADD_FAILURE() << "an HDF5 exception escaped unconverted";
  }
  detail::set_checkpoint_save_hook(nullptr);
  EXPECT_NE(msg.find("checkpoint '" + path + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("simulated disk full"), std::string::npos) << msg;
  EXPECT_TRUE(dir.others("run.h5").empty());
  EXPECT_EQ(load_checkpoint(path).graph_json, rich_checkpoint().graph_json);
}

TEST(Checkpoint, ReadOnlyDirectoryIsRefusedAndKeepsThePreviousCheckpoint) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const std::string path = dir.file("run.h5");
  save_checkpoint(rich_checkpoint(), path);
  fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
  Checkpoint other = rich_checkpoint();
  other.training.epoch = 1;
  try {
    save_checkpoint(other, path);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  fs::permissions(dir.path, fs::perms::owner_all);
  EXPECT_EQ(load_checkpoint(path).training.epoch, 7);
  EXPECT_TRUE(dir.others("run.h5").empty());
}

TEST(Checkpoint, SavesAndLoadsFromTwoThreadsAtOnceAreSafe) {
  // The trainer saves while the GUI may load; Debian's HDF5 is not thread-safe by itself.
  TempDir dir;
  const std::string path = dir.file("run.h5");
  save_checkpoint(rich_checkpoint(), path);
  std::atomic<int> failures{0};
  std::thread writer([&] {
    Checkpoint c = rich_checkpoint();
    for (int i = 0; i < 20; ++i) {
      c.training.epoch = i;
      try {
        save_checkpoint(c, path);
      } catch (...) {
        ++failures;
      }
    }
  });
  for (int i = 0; i < 20; ++i) {
    try {
      Checkpoint back = load_checkpoint(path);
      if (back.weights.size() != rich_checkpoint().weights.size()) ++failures;
    } catch (...) {
      ++failures;
    }
  }
  writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(load_checkpoint(path).training.epoch, 19);
  EXPECT_TRUE(dir.others("run.h5").empty());
}

TEST(Checkpoint, UnwritableTargetsNameThePath) {
  TempDir dir;
  fs::create_directory(dir.path / "adir");
  try {
    save_checkpoint(rich_checkpoint(), dir.file("adir"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint '" + dir.file("adir") +
                                         "': the path is a directory"),
              std::string::npos)
        << e.what();
  }
  std::string missing = dir.file("no/such/dir/run.h5");
  try {
    save_checkpoint(rich_checkpoint(), missing);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint '" + missing + "'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dir.others("").size(), 1u);  // only adir
}

TEST(Checkpoint, InvalidContentsAreRefusedBeforeWriting) {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  auto expect_refused = [&](const Checkpoint& c, const std::string& part) {
    try {
      save_checkpoint(c, path);
      ADD_FAILURE() << "accepted: " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(path));
  };
  Checkpoint dup = rich_checkpoint();
  dup.weights.push_back({"conv1", "bias", Tensor::zeros({2})});
  expect_refused(dup, "weight 'conv1/bias' appears twice");
  Checkpoint undefined = rich_checkpoint();
  undefined.buffers.push_back({"bn2", "running_mean", Tensor()});
  expect_refused(undefined, "buffer 'bn2/running_mean' is an undefined tensor");
  Checkpoint empty_id = rich_checkpoint();
  empty_id.weights.push_back({"", "w", Tensor::zeros({1})});
  expect_refused(empty_id, "weight node id is empty");
  Checkpoint type_clash = rich_checkpoint();
  type_clash.optimizer.hyper["type"] = 1;
  expect_refused(type_clash, "hyper-parameter 'type'");
}

// --- bad files ------------------------------------------------------------------------------

TEST(CheckpointBadFile, MissingFile) {
  TempDir dir;
  load_error(dir.file("nope.h5"), {"no such file"});
}

TEST(CheckpointBadFile, NotAnHDF5File) {
  TempDir dir;
  std::ofstream(dir.file("text.h5")) << "this is not HDF5, just some text\n";
  load_error(dir.file("text.h5"), {"not an HDF5 file"});
  std::ofstream(dir.file("empty.h5")).close();
  load_error(dir.file("empty.h5"), {"the file is empty"});
  load_error(dir.path.string(), {"is a directory"});
}

TEST(CheckpointBadFile, ForeignHDF5File) {
  TempDir dir;
  {
    H5::H5File f(dir.file("foreign.h5"), H5F_ACC_TRUNC);
    hsize_t n = 3;
    f.createDataSet("data", H5::PredType::IEEE_F64LE, H5::DataSpace(1, &n));
  }
  load_error(dir.file("foreign.h5"),
             {"not a Neurograph checkpoint", "no root attribute 'format'", "foreign"});
  {
    H5::H5File f(dir.file("other.h5"), H5F_ACC_TRUNC);
    H5::StrType t(H5::PredType::C_S1, 16);  // fixed-length, as some tools write it
    f.openGroup("/")
        .createAttribute("format", t, H5::DataSpace(H5S_SCALAR))
        .write(t, std::string("keras-model"));
  }
  load_error(dir.file("other.h5"), {"root attribute 'format' is 'keras-model'"});
}

TEST(CheckpointBadFile, NewerFormatVersion) {
  TempDir dir;
  const std::string path = dir.file("future.h5");
  save_checkpoint(rich_checkpoint(), path);
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    H5::Group root = f.openGroup("/");
    root.removeAttr("format_version");
    int64_t v = 2;
    root.createAttribute("format_version", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &v);
  }
  load_error(path, {"this checkpoint was written by format version 2; this Neurograph "
                    "understands up to 1"});
}

TEST(CheckpointBadFile, TruncatedFile) {
  TempDir dir;
  const std::string path = dir.file("cut.h5");
  save_checkpoint(rich_checkpoint(), path);
  fs::resize_file(path, fs::file_size(path) / 2);
  load_error(path, {"damaged or truncated"});
}

TEST(CheckpointBadFile, MissingDatasetGroupOrAttribute) {
  TempDir dir;
  const std::string path = dir.file("holes.h5");
  save_checkpoint(rich_checkpoint(), path);
  fs::copy_file(path, dir.file("no_weights.h5"));
  fs::copy_file(path, dir.file("no_seed.h5"));
  fs::copy_file(path, dir.file("no_shape.h5"));
  {
    H5::H5File f(path, H5F_ACC_RDWR);
    f.unlink("/model/graph_json");
  }
  load_error(path, {"missing dataset '/model/graph_json'"});
  {
    H5::H5File f(dir.file("no_weights.h5"), H5F_ACC_RDWR);
    f.unlink("/weights");
  }
  load_error(dir.file("no_weights.h5"), {"missing group '/weights'"});
  {
    H5::H5File f(dir.file("no_seed.h5"), H5F_ACC_RDWR);
    f.openGroup("/training").removeAttr("rng_seed");
  }
  load_error(dir.file("no_seed.h5"), {"missing attribute 'rng_seed' of '/training'"});
  {
    H5::H5File f(dir.file("no_shape.h5"), H5F_ACC_RDWR);
    f.openDataSet("/weights/conv1/bias").removeAttr("shape");
  }
  load_error(dir.file("no_shape.h5"), {"missing attribute 'shape' of '/weights/conv1/bias'"});
}

// --- h5py interop ---------------------------------------------------------------------------

namespace {

nlohmann::json tensor_json(const NamedTensor& nt) {
  Tensor t = nt.tensor.detach().contiguous();
  nlohmann::json values = nlohmann::json::array();
  if (t.dtype() == DType::Float32)
    for (float v : t.to_vector<float>()) values.push_back(double(v));
  else if (t.dtype() == DType::Float64)
    for (double v : t.to_vector<double>()) values.push_back(v);
  else
    for (int64_t v : t.to_vector<int64_t>()) values.push_back(v);
  return {{"node", nt.node},
          {"name", nt.name},
          {"dtype", dtype_name(t.dtype())},
          {"shape", t.shape()},
          {"values", values}};
}

// rich_checkpoint() without NaN/inf, which JSON cannot carry.
Checkpoint interop_checkpoint() {
  Checkpoint c = rich_checkpoint();
  std::vector<float> w = c.weights[0].tensor.to_vector<float>();
  w[1] = 1.5f, w[2] = -2.75f;
  c.weights[0].tensor = Tensor::from_vector(w, c.weights[0].tensor.shape());
  return c;
}

nlohmann::json expected_json(const Checkpoint& c) {
  nlohmann::json j;
  j["root"] = {{"format", "neurograph-checkpoint"},
               {"format_version", kCheckpointFormatVersion},
               {"app_version", c.app_version},
               {"created", c.created}};
  j["graph_json"] = c.graph_json;
  for (const char* list : {"weights", "buffers"}) {
    j[list] = nlohmann::json::array();
    for (const NamedTensor& nt : std::string(list) == "weights" ? c.weights : c.buffers)
      j[list].push_back(tensor_json(nt));
  }
  j["optimizer"] = {{"type", c.optimizer.type}, {"hyper", c.optimizer.hyper}};
  j["optimizer"]["params"] = nlohmann::json::array();
  for (const auto& p : c.optimizer.params) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& [name, t] : p.tensors) tensors.push_back(tensor_json({p.node, name, t}));
    j["optimizer"]["params"].push_back(
        {{"node", p.node}, {"param", p.param}, {"scalars", p.scalars}, {"tensors", tensors}});
  }
  const TrainingCheckpoint& t = c.training;
  j["training"] = {{"epoch", t.epoch},
                   {"step", t.step},
                   {"rng_seed", t.rng_seed},
                   {"rng_offset", t.rng_offset},
                   {"best_metric_name", t.best_metric_name},
                   {"best_metric", t.best_metric},
                   {"best_epoch", t.best_epoch},
                   {"history", t.history}};
  return j;
}

}  // namespace

// Writes checkpoint.h5 and expected.json for tests/engine/read_checkpoint.py into
// $NG_CHECKPOINT_INTEROP_DIR (the ctest CheckpointInterop.H5pyReadsEveryDocumentedName sets it),
// else into a temporary directory; either way checks that the fixture loads back exactly.
TEST(CheckpointInterop, WritesFixtureForH5py) {
  TempDir tmp;
  const char* env = std::getenv("NG_CHECKPOINT_INTEROP_DIR");
  fs::path dir = env && *env ? fs::path(env) : tmp.path;
  fs::create_directories(dir);
  Checkpoint c = interop_checkpoint();
  save_checkpoint(c, (dir / "checkpoint.h5").string());
  std::ofstream((dir / "expected.json").string()) << expected_json(c).dump(1) << "\n";
  expect_same_checkpoint(c, load_checkpoint((dir / "checkpoint.h5").string()));
  nlohmann::json back = nlohmann::json::parse(std::ifstream((dir / "expected.json").string()));
  EXPECT_EQ(back["training"]["rng_seed"].get<uint64_t>(), c.training.rng_seed);
}
