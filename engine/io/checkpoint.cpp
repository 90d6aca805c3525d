// HDF5 checkpoints: save_checkpoint / load_checkpoint, in a pair. The layout is described name by
// name in docs/checkpoint-format.md; change both together and bump kCheckpointFormatVersion
// when a reader of the old layout could not read the new one.
#include "engine/io/checkpoint.h"

#include <H5Cpp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

namespace ng {

namespace {

constexpr const char* kFormat = "neurograph-checkpoint";
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// HDF5 session: one at a time (Debian's libhdf5 is the serial, non-thread-safe build), with the
// automatic error-stack printer replaced by a recorder. Like H5::Exception::dontPrint(), this
// keeps HDF5 from printing to stderr; in addition it keeps the innermost message of the failed
// call ("truncated file: eof = 1024, ...") so that our ng::Error can say what went wrong.

std::mutex g_hdf5_mutex;
std::string g_hdf5_error;  // innermost message of the last failed HDF5 call; under the mutex
detail::CheckpointSaveHook g_save_hook = nullptr;
std::atomic<uint64_t> g_temp_counter{0};

herr_t record_innermost(unsigned n, const H5E_error2_t* err, void* client) {
  // Walked upward: entry 0 is where the error was first detected.
  if (n == 0 && err->desc) *static_cast<std::string*>(client) = err->desc;
  return 0;
}

herr_t record_error_stack(hid_t stack, void*) {
  g_hdf5_error.clear();
  H5Ewalk2(stack, H5E_WALK_UPWARD, record_innermost, &g_hdf5_error);
  return 0;
}

class Hdf5Session {
 public:
  Hdf5Session() : lock_(g_hdf5_mutex) {
    H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
    H5Eset_auto2(H5E_DEFAULT, record_error_stack, nullptr);
    g_hdf5_error.clear();
  }
  ~Hdf5Session() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }
  Hdf5Session(const Hdf5Session&) = delete;
  Hdf5Session& operator=(const Hdf5Session&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// "H5Dread failed: addr overflow, ..." from a caught H5::Exception and the recorded stack.
std::string describe(const H5::Exception& e) {
  std::string s = e.getDetailMsg();
  if (!g_hdf5_error.empty()) s += ": " + g_hdf5_error;
  return "HDF5: " + s;
}

// Every error of this file names the checkpoint's path first.
struct Context {
  std::string path;   // the checkpoint file, as the caller named it
  std::string where;  // the HDF5 object being read or written, for messages
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("checkpoint '" + path + "': " + what);
  }
};

// A C API call that failed throws like the C++ API does, to be converted in one place.
void check(int64_t status, const char* func) {
  if (status < 0) throw H5::Exception(func, std::string(func) + " failed");
}

std::string join(const std::string& parent, const std::string& link) {
  return (parent == "/" ? "/" : parent + "/") + link;
}

// --- writing ---------------------------------------------------------------------------------

H5::StrType utf8_string_type() {
  H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
  t.setCset(H5T_CSET_UTF8);
  return t;
}

// Groups track link creation order, so that a reader (ours or h5py) lists nodes and parameters
// in the order they were written.
H5::Group create_group(const H5::Group& parent, const std::string& link) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  check(gcpl, "H5Pcreate");
  herr_t st = H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t g = st < 0 ? -1 : H5Gcreate2(parent.getId(), link.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  check(st, "H5Pset_link_creation_order");
  if (g < 0) throw H5::GroupIException("H5Gcreate2", "H5Gcreate2 failed");
  H5::Group group(g);  // takes its own reference
  H5Gclose(g);
  return group;
}

void write_string_attr(const H5::H5Object& o, const char* name, const std::string& v) {
  H5::StrType t = utf8_string_type();
  o.createAttribute(name, t, H5::DataSpace(H5S_SCALAR)).write(t, v);
}

template <class T>
void write_scalar_attr(const H5::H5Object& o, const std::string& name, const H5::PredType& file_t,
                       const H5::PredType& mem_t, T v) {
  o.createAttribute(name, file_t, H5::DataSpace(H5S_SCALAR)).write(mem_t, &v);
}

void write_i64(const H5::H5Object& o, const char* n, int64_t v) {
  write_scalar_attr(o, n, H5::PredType::STD_I64LE, H5::PredType::NATIVE_INT64, v);
}
void write_u64(const H5::H5Object& o, const char* n, uint64_t v) {
  write_scalar_attr(o, n, H5::PredType::STD_U64LE, H5::PredType::NATIVE_UINT64, v);
}
void write_f64(const H5::H5Object& o, const std::string& n, double v) {
  write_scalar_attr(o, n, H5::PredType::IEEE_F64LE, H5::PredType::NATIVE_DOUBLE, v);
}

// A tensor as a dataset of its own dtype and shape, plus the attribute "shape" (int64[rank]).
void write_tensor(const H5::Group& g, const std::string& link, const Tensor& t, Context& ctx) {
  // t: any device, any strides -> host: contiguous, on the CPU, no autograd history.
  Tensor host = t.detach();
  if (!host.device().is_cpu()) host = host.to(Device::cpu());
  host = host.contiguous();

  const H5::PredType* file_t = &H5::PredType::IEEE_F32LE;
  const H5::PredType* mem_t = &H5::PredType::NATIVE_FLOAT;
  if (host.dtype() == DType::Float64) {
    file_t = &H5::PredType::IEEE_F64LE, mem_t = &H5::PredType::NATIVE_DOUBLE;
  } else if (host.dtype() == DType::Int64) {
    file_t = &H5::PredType::STD_I64LE, mem_t = &H5::PredType::NATIVE_INT64;
  }
  const Shape& shape = host.shape();
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5::DataSpace space =
      dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(int(dims.size()), dims.data());
  H5::DataSet ds = g.createDataSet(link, *file_t, space);
  if (host.numel() > 0) ds.write(host.raw_data(), *mem_t);

  hsize_t rank = shape.size();
  H5::DataSpace shape_space(1, &rank);
  H5::Attribute a = ds.createAttribute("shape", H5::PredType::STD_I64LE, shape_space);
  if (rank > 0) a.write(H5::PredType::NATIVE_INT64, shape.data());
}

void write_named_tensors(const H5::Group& root, const std::string& group_name,
                         const std::vector<NamedTensor>& list, Context& ctx) {
  H5::Group top = create_group(root, group_name);
  std::map<std::string, H5::Group> nodes;  // by node id
  for (const NamedTensor& nt : list) {
    std::string node_link = escape_checkpoint_name(nt.node);
    ctx.where = "/" + group_name + "/" + node_link;
    auto it = nodes.find(nt.node);
    if (it == nodes.end()) it = nodes.emplace(nt.node, create_group(top, node_link)).first;
    std::string link = escape_checkpoint_name(nt.name);
    ctx.where = join(ctx.where, link);
    write_tensor(it->second, link, nt.tensor, ctx);
  }
}

void write_checkpoint(const H5::H5File& file, const Checkpoint& c, Context& ctx) {
  H5::Group root = file.openGroup("/");
  ctx.where = "/ (root attributes)";
  write_string_attr(root, "format", kFormat);
  write_i64(root, "format_version", kCheckpointFormatVersion);
  write_string_attr(root, "app_version", c.app_version);
  write_string_attr(root, "created", c.created.empty() ? iso8601_utc_now() : c.created);

  ctx.where = "/model/graph_json";
  {
    H5::Group model = create_group(root, "model");
    H5::StrType t = utf8_string_type();
    model.createDataSet("graph_json", t, H5::DataSpace(H5S_SCALAR)).write(c.graph_json, t);
  }

  write_named_tensors(root, "weights", c.weights, ctx);
  write_named_tensors(root, "buffers", c.buffers, ctx);

  ctx.where = "/optimizer";
  H5::Group opt = create_group(root, "optimizer");
  write_string_attr(opt, "type", c.optimizer.type);
  for (const auto& [name, v] : c.optimizer.hyper) write_f64(opt, name, v);
  H5::Group state = create_group(opt, "state");
  std::map<std::string, H5::Group> nodes;
  for (const OptimizerParamState& p : c.optimizer.params) {
    std::string node_link = escape_checkpoint_name(p.node);
    ctx.where = "/optimizer/state/" + node_link;
    auto it = nodes.find(p.node);
    if (it == nodes.end()) it = nodes.emplace(p.node, create_group(state, node_link)).first;
    std::string param_path = join(ctx.where, escape_checkpoint_name(p.param));
    ctx.where = param_path;
    H5::Group pg = create_group(it->second, escape_checkpoint_name(p.param));
    for (const auto& [name, v] : p.scalars) write_f64(pg, name, v);
    for (const auto& [name, t] : p.tensors) {
      std::string link = escape_checkpoint_name(name);
      ctx.where = join(param_path, link);
      write_tensor(pg, link, t, ctx);
    }
  }

  ctx.where = "/training";
  const TrainingCheckpoint& tr = c.training;
  H5::Group training = create_group(root, "training");
  write_i64(training, "epoch", tr.epoch);
  write_i64(training, "step", tr.step);
  write_u64(training, "rng_seed", tr.rng_seed);
  write_u64(training, "rng_offset", tr.rng_offset);
  write_string_attr(training, "best_metric_name", tr.best_metric_name);
  write_f64(training, "best_metric", tr.best_metric);
  write_i64(training, "best_epoch", tr.best_epoch);
  H5::Group history = create_group(training, "history");
  for (const auto& [name, series] : tr.history) {
    std::string link = escape_checkpoint_name(name);
    ctx.where = "/training/history/" + link;
    hsize_t n = series.size();
    H5::DataSet ds = history.createDataSet(link, H5::PredType::IEEE_F64LE, H5::DataSpace(1, &n));
    if (n > 0) ds.write(series.data(), H5::PredType::NATIVE_DOUBLE);
  }
}

// Refuses what the layout cannot hold, before anything is written.
void validate(const Checkpoint& c, const Context& ctx) {
  auto check_text = [&](const std::string& s, const std::string& what) {
    if (s.find('\0') != std::string::npos) ctx.fail(what + " contains a NUL character");
  };
  auto check_name = [&](const std::string& s, const std::string& what) {
    if (s.empty()) ctx.fail(what + " is empty");
    check_text(s, what + " '" + s + "'");
  };
  check_text(c.graph_json, "graph_json");
  check_text(c.app_version, "app_version");
  check_text(c.created, "created");
  check_text(c.optimizer.type, "optimizer type");
  check_text(c.training.best_metric_name, "best_metric_name");

  auto check_list = [&](const std::vector<NamedTensor>& list, const char* kind) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const NamedTensor& nt : list) {
      std::string q = nt.node + "/" + nt.name;
      check_name(nt.node, std::string(kind) + " node id");
      check_name(nt.name, std::string(kind) + " name of node '" + nt.node + "'");
      if (!nt.tensor.defined()) ctx.fail(std::string(kind) + " '" + q + "' is an undefined tensor");
      if (!seen.insert({nt.node, nt.name}).second)
        ctx.fail(std::string(kind) + " '" + q + "' appears twice");
    }
  };
  check_list(c.weights, "weight");
  check_list(c.buffers, "buffer");

  for (const auto& [name, v] : c.optimizer.hyper) {
    check_name(name, "optimizer hyper-parameter name");
    if (name == "type")
      ctx.fail("optimizer hyper-parameter 'type' clashes with the attribute naming the optimizer");
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const OptimizerParamState& p : c.optimizer.params) {
    std::string q = p.qualified_name();
    check_name(p.node, "optimizer state node id");
    check_name(p.param, "optimizer state parameter name of node '" + p.node + "'");
    if (!seen.insert({p.node, p.param}).second)
      ctx.fail("optimizer state for '" + q + "' appears twice");
    for (const auto& [name, t] : p.tensors) {
      check_name(name, "optimizer state name of '" + q + "'");
      if (!t.defined()) ctx.fail("optimizer state '" + q + "/" + name + "' is an undefined tensor");
    }
    for (const auto& [name, v] : p.scalars)
      check_name(name, "optimizer scalar name of '" + q + "'");
  }
  for (const auto& [name, v] : c.training.history) check_name(name, "history series name");
}

void fsync_path(const std::string& p, bool directory, const Context& ctx) {
  int fd = ::open(p.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) ctx.fail("cannot open '" + p + "' to sync it: " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on a directory (EINVAL); the rename has happened by then.
  if (rc != 0 && !(directory && (err == EINVAL || err == EBADF)))
    ctx.fail("cannot sync '" + p + "': " + std::strerror(err));
}

H5::FileAccPropList file_access() {
  H5::FileAccPropList fapl;
  fapl.setFcloseDegree(H5F_CLOSE_STRONG);  // closing the file closes everything in it
#if H5_VERSION_GE(1, 10, 7)
  // Lock the file where the file system can, go on where it cannot (NFS, some FUSE mounts);
  // writers never share a file (NOTE [Checkpoint atomicity]), so locks only guard tools.
  check(H5Pset_file_locking(fapl.getId(), true, true), "H5Pset_file_locking");
#endif
  return fapl;
}

// --- reading ---------------------------------------------------------------------------------

bool has_link(const H5::Group& g, const std::string& link) {
  htri_t r = H5Lexists(g.getId(), link.c_str(), H5P_DEFAULT);
  check(r, "H5Lexists");
  return r > 0;
}

H5::Group open_group(const H5::Group& parent, const std::string& link, const std::string& path,
                     Context& ctx) {
  ctx.where = path;
  if (!has_link(parent, link)) ctx.fail("missing group '" + path + "'");
  if (parent.childObjType(link) != H5O_TYPE_GROUP)
    ctx.fail("'" + path + "' is not a group (expected a group)");
  return parent.openGroup(link);
}

H5::DataSet open_dataset(const H5::Group& parent, const std::string& link, const std::string& path,
                         Context& ctx) {
  ctx.where = path;
  if (!has_link(parent, link)) ctx.fail("missing dataset '" + path + "'");
  if (parent.childObjType(link) != H5O_TYPE_DATASET)
    ctx.fail("'" + path + "' is not a dataset (expected a dataset)");
  return parent.openDataSet(link);
}

// Link names of a group: in creation order where the group tracks it (ours do), else by name.
std::vector<std::string> links_of(const H5::Group& g) {
  hid_t gcpl = H5Gget_create_plist(g.getId());
  check(gcpl, "H5Gget_create_plist");
  unsigned flags = 0;
  herr_t st = H5Pget_link_creation_order(gcpl, &flags);
  H5Pclose(gcpl);
  check(st, "H5Pget_link_creation_order");
  H5_index_t index = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  H5G_info_t info;
  check(H5Gget_info(g.getId(), &info), "H5Gget_info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    check(n, "H5Lget_name_by_idx");
    std::string name(size_t(n) + 1, '\0');
    check(H5Lget_name_by_idx(g.getId(), ".", index, H5_ITER_INC, i, name.data(), name.size(),
                             H5P_DEFAULT),
          "H5Lget_name_by_idx");
    name.resize(size_t(n));
    names.push_back(std::move(name));
  }
  return names;
}

std::vector<std::string> attribute_names(const H5::H5Object& o) {
  std::vector<std::string> names;
  for (hsize_t i = 0, count = hsize_t(o.getNumAttrs()); i < count; ++i) {
    ssize_t n =
        H5Aget_name_by_idx(o.getId(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    check(n, "H5Aget_name_by_idx");
    std::string name(size_t(n) + 1, '\0');
    check(H5Aget_name_by_idx(o.getId(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                             name.size(), H5P_DEFAULT),
          "H5Aget_name_by_idx");
    name.resize(size_t(n));
    names.push_back(std::move(name));
  }
  return names;
}

H5::Attribute open_attr(const H5::H5Object& o, const std::string& name, const std::string& obj_path,
                        Context& ctx) {
  ctx.where = "attribute '" + name + "' of '" + obj_path + "'";
  if (!o.attrExists(name)) ctx.fail("missing attribute '" + name + "' of '" + obj_path + "'");
  H5::Attribute a = o.openAttribute(name);
  if (a.getSpace().getSimpleExtentNpoints() != 1)
    ctx.fail("attribute '" + name + "' of '" + obj_path + "' holds " +
             std::to_string(a.getSpace().getSimpleExtentNpoints()) + " values, expected one");
  return a;
}

// A string attribute or scalar string dataset, variable- or fixed-length (h5py writes both).
// Obj: H5::Attribute or H5::DataSet (scalar).
template <class Obj>
std::string read_string(const Obj& obj, const std::string& what, Context& ctx) {
  constexpr bool is_attr = std::is_same_v<Obj, H5::Attribute>;
  if (obj.getTypeClass() != H5T_STRING) ctx.fail(what + " is not a string");
  H5::StrType st = obj.getStrType();
  auto read = [&](const H5::DataType& mem, void* buf) {
    check(is_attr ? H5Aread(obj.getId(), mem.getId(), buf)
                  : H5Dread(obj.getId(), mem.getId(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf),
          is_attr ? "H5Aread" : "H5Dread");
  };
  std::string out;
  if (st.isVariableStr()) {
    H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
    mem.setCset(st.getCset());
    char* p = nullptr;
    read(mem, &p);
    if (p) out = p;
    H5free_memory(p);
  } else {
    out.assign(st.getSize(), '\0');
    read(st, out.data());
    out.resize(std::strlen(out.c_str()));  // fixed-length strings are NUL-padded
  }
  return out;
}

std::string read_string_attr(const H5::H5Object& o, const std::string& name,
                             const std::string& obj_path, Context& ctx) {
  H5::Attribute a = open_attr(o, name, obj_path, ctx);
  return read_string(a, "attribute '" + name + "' of '" + obj_path + "'", ctx);
}

template <class T>
T read_number_attr(const H5::H5Object& o, const std::string& name, const std::string& obj_path,
                   const H5::PredType& mem_t, Context& ctx) {
  H5::Attribute a = open_attr(o, name, obj_path, ctx);
  H5T_class_t cls = a.getTypeClass();
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    ctx.fail("attribute '" + name + "' of '" + obj_path + "' is not a number");
  // Integers must be stored as integers: a float64 seed would have lost bits already.
  if (cls == H5T_FLOAT && mem_t.getClass() == H5T_INTEGER)
    ctx.fail("attribute '" + name + "' of '" + obj_path + "' is a float, expected an integer");
  T v{};
  a.read(mem_t, &v);
  return v;
}

Shape dataset_shape(const H5::DataSet& ds, const std::string& path, Context& ctx) {
  H5::DataSpace space = ds.getSpace();
  H5S_class_t cls = space.getSimpleExtentType();
  if (cls == H5S_NULL) ctx.fail("dataset '" + path + "' has no dataspace (an empty dataset)");
  int rank = space.getSimpleExtentNdims();
  auto dims = std::vector<hsize_t>(size_t(rank));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  return Shape(dims.begin(), dims.end());
}

Tensor read_tensor(const H5::Group& g, const std::string& link, const std::string& path,
                   Context& ctx) {
  H5::DataSet ds = open_dataset(g, link, path, ctx);
  H5T_class_t cls = ds.getTypeClass();
  size_t size = ds.getDataType().getSize();
  DType dt;
  const H5::PredType* mem_t;
  if (cls == H5T_FLOAT && size == 4) {
    dt = DType::Float32, mem_t = &H5::PredType::NATIVE_FLOAT;
  } else if (cls == H5T_FLOAT && size == 8) {
    dt = DType::Float64, mem_t = &H5::PredType::NATIVE_DOUBLE;
  } else if (cls == H5T_INTEGER && size == 8 && ds.getIntType().getSign() == H5T_SGN_2) {
    dt = DType::Int64, mem_t = &H5::PredType::NATIVE_INT64;
  } else {
    ctx.fail("dataset '" + path + "' has an element type this version cannot read " +
             "(expected float32, float64 or int64)");
  }
  Shape shape = dataset_shape(ds, path, ctx);

  H5::Attribute a = [&] {
    ctx.where = "attribute 'shape' of '" + path + "'";
    if (!ds.attrExists("shape")) ctx.fail("missing attribute 'shape' of '" + path + "'");
    return ds.openAttribute("shape");
  }();
  if (a.getTypeClass() != H5T_INTEGER)
    ctx.fail("attribute 'shape' of '" + path + "' is not an integer array");
  auto recorded = Shape(size_t(a.getSpace().getSimpleExtentNpoints()));
  if (!recorded.empty()) a.read(H5::PredType::NATIVE_INT64, recorded.data());
  if (recorded != shape)
    ctx.fail("dataset '" + path + "' has shape " + shape_str(shape) +
             " but its attribute 'shape' says " + shape_str(recorded));

  ctx.where = path;
  Tensor t = Tensor::empty(shape, dt);
  if (t.numel() > 0) ds.read(t.raw_data(), *mem_t);
  return t;
}

std::vector<NamedTensor> read_named_tensors(const H5::Group& root, const std::string& group_name,
                                            Context& ctx) {
  std::string top_path = "/" + group_name;
  H5::Group top = open_group(root, group_name, top_path, ctx);
  std::vector<NamedTensor> out;
  for (const std::string& node_link : links_of(top)) {
    std::string node_path = join(top_path, node_link);
    H5::Group node = open_group(top, node_link, node_path, ctx);
    for (const std::string& link : links_of(node)) {
      out.push_back({unescape_checkpoint_name(node_link), unescape_checkpoint_name(link),
                     read_tensor(node, link, join(node_path, link), ctx)});
    }
  }
  return out;
}

Checkpoint read_checkpoint(const H5::H5File& file, Context& ctx) {
  Checkpoint c;
  H5::Group root = file.openGroup("/");

  // Identity first, so that a foreign or newer file is named as such, not as "missing /model".
  ctx.where = "/";
  if (!root.attrExists("format"))
    ctx.fail(
        "not a Neurograph checkpoint: the HDF5 file has no root attribute 'format' "
        "(a foreign HDF5 file?)");
  std::string format = read_string_attr(root, "format", "/", ctx);
  if (format != kFormat)
    ctx.fail("not a Neurograph checkpoint: root attribute 'format' is '" + format +
             "', expected '" + kFormat + "'");
  int64_t version =
      read_number_attr<int64_t>(root, "format_version", "/", H5::PredType::NATIVE_INT64, ctx);
  if (version > kCheckpointFormatVersion)
    ctx.fail("this checkpoint was written by format version " + std::to_string(version) +
             "; this Neurograph understands up to " + std::to_string(kCheckpointFormatVersion) +
             " (open it with a newer Neurograph)");
  if (version < 1) ctx.fail("invalid format_version " + std::to_string(version));
  c.app_version = read_string_attr(root, "app_version", "/", ctx);
  c.created = read_string_attr(root, "created", "/", ctx);

  H5::Group model = open_group(root, "model", "/model", ctx);
  H5::DataSet graph = open_dataset(model, "graph_json", "/model/graph_json", ctx);
  c.graph_json = read_string(graph, "dataset '/model/graph_json'", ctx);

  c.weights = read_named_tensors(root, "weights", ctx);
  c.buffers = read_named_tensors(root, "buffers", ctx);

  H5::Group opt = open_group(root, "optimizer", "/optimizer", ctx);
  c.optimizer.type = read_string_attr(opt, "type", "/optimizer", ctx);
  for (const std::string& name : attribute_names(opt)) {
    if (name == "type") continue;
    c.optimizer.hyper[name] =
        read_number_attr<double>(opt, name, "/optimizer", H5::PredType::NATIVE_DOUBLE, ctx);
  }
  H5::Group state = open_group(opt, "state", "/optimizer/state", ctx);
  for (const std::string& node_link : links_of(state)) {
    std::string node_path = join("/optimizer/state", node_link);
    H5::Group node = open_group(state, node_link, node_path, ctx);
    for (const std::string& param_link : links_of(node)) {
      std::string param_path = join(node_path, param_link);
      H5::Group pg = open_group(node, param_link, param_path, ctx);
      OptimizerParamState p;
      p.node = unescape_checkpoint_name(node_link);
      p.param = unescape_checkpoint_name(param_link);
      for (const std::string& name : attribute_names(pg))
        p.scalars[name] =
            read_number_attr<double>(pg, name, param_path, H5::PredType::NATIVE_DOUBLE, ctx);
      for (const std::string& link : links_of(pg))
        p.tensors[unescape_checkpoint_name(link)] =
            read_tensor(pg, link, join(param_path, link), ctx);
      c.optimizer.params.push_back(std::move(p));
    }
  }

  H5::Group training = open_group(root, "training", "/training", ctx);
  TrainingCheckpoint& tr = c.training;
  const auto& i64 = H5::PredType::NATIVE_INT64;
  const auto& u64 = H5::PredType::NATIVE_UINT64;
  tr.epoch = read_number_attr<int64_t>(training, "epoch", "/training", i64, ctx);
  tr.step = read_number_attr<int64_t>(training, "step", "/training", i64, ctx);
  tr.rng_seed = read_number_attr<uint64_t>(training, "rng_seed", "/training", u64, ctx);
  tr.rng_offset = read_number_attr<uint64_t>(training, "rng_offset", "/training", u64, ctx);
  tr.best_metric_name = read_string_attr(training, "best_metric_name", "/training", ctx);
  tr.best_metric = read_number_attr<double>(training, "best_metric", "/training",
                                            H5::PredType::NATIVE_DOUBLE, ctx);
  tr.best_epoch = read_number_attr<int64_t>(training, "best_epoch", "/training", i64, ctx);
  H5::Group history = open_group(training, "history", "/training/history", ctx);
  for (const std::string& link : links_of(history)) {
    std::string path = join("/training/history", link);
    H5::DataSet ds = open_dataset(history, link, path, ctx);
    Shape shape = dataset_shape(ds, path, ctx);
    if (shape.size() != 1)
      ctx.fail("dataset '" + path + "' has shape " + shape_str(shape) + ", expected one dimension");
    if (ds.getTypeClass() != H5T_FLOAT) ctx.fail("dataset '" + path + "' is not float64");
    auto series = std::vector<double>(size_t(shape[0]));
    if (!series.empty()) ds.read(series.data(), H5::PredType::NATIVE_DOUBLE);
    tr.history[unescape_checkpoint_name(link)] = std::move(series);
  }
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string escape_checkpoint_name(const std::string& name) {
  if (name == ".") return "%2E";  // "." names the current group in an HDF5 path
  std::string out;
  out.reserve(name.size());
  for (char ch : name) {
    if (ch == '%')
      out += "%25";
    else if (ch == '/')
      out += "%2F";
    else
      out += ch;
  }
  return out;
}

std::string unescape_checkpoint_name(const std::string& link) {
  std::string out;
  out.reserve(link.size());
  for (size_t i = 0; i < link.size(); ++i) {
    std::string_view rest = std::string_view(link).substr(i, 3);
    if (rest == "%25")
      out += '%', i += 2;
    else if (rest == "%2F")
      out += '/', i += 2;
    else if (rest == "%2E")
      out += '.', i += 2;
    else
      out += link[i];
  }
  return out;
}

std::string iso8601_utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace detail {
void set_checkpoint_save_hook(CheckpointSaveHook hook) {
  g_save_hook = hook;
}
}  // namespace detail

// NOTE [Checkpoint atomicity]
// A checkpoint at `path` is replaced only by a complete, synced file, never written in place:
//   1. everything is written to "<path>.<pid>.<n>.tmp" in the same directory (unique per
//      process and per save, so that two writers never share a temporary file);
//   2. the file is closed (HDF5 flushes it) and fsync'ed;
//   3. it is renamed over `path` (rename(2) is atomic within a file system), then the
//      directory is fsync'ed so that the rename itself survives a power cut.
// Any error before the rename removes the temporary file and leaves `path` as it was; a crash
// (kill, power cut) may leave a stale "*.tmp" but never a damaged `path`. Readers therefore
// see either the old checkpoint or the new one, whole.
void save_checkpoint(const Checkpoint& c, const std::string& path) {
  Context ctx{path, ""};
  validate(c, ctx);
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) ctx.fail("the directory '" + dir.string() + "' does not exist");
  if (fs::is_directory(target, ec)) ctx.fail("the path is a directory");

  std::string temp = path + "." + std::to_string(::getpid()) + "." +
                     std::to_string(g_temp_counter.fetch_add(1)) + ".tmp";
  Hdf5Session session;
  // The temporary name is this process's own: on any failure it is removed, whatever state
  // HDF5 left it in.
  try {
    {
      ctx.where = "temporary file '" + temp + "'";
      H5::H5File file(temp, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, file_access());
      if (g_save_hook) g_save_hook("temp_created", temp);
      write_checkpoint(file, c, ctx);
      ctx.where = "temporary file '" + temp + "' (closing)";
      file.close();
    }
    fsync_path(temp, false, ctx);
    if (g_save_hook) g_save_hook("temp_written", temp);
    if (::rename(temp.c_str(), path.c_str()) != 0)
      ctx.fail("cannot rename '" + temp + "' over it: " + std::strerror(errno));
    fsync_path(dir.string(), true, ctx);
  } catch (const H5::Exception& e) {
    fs::remove(temp, ec);
    ctx.fail("cannot write " + ctx.where + ": " + describe(e));
  } catch (...) {
    fs::remove(temp, ec);
    throw;
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  Context ctx{path, ""};
  std::error_code ec;
  if (!fs::exists(path, ec)) ctx.fail("no such file");
  if (fs::is_directory(path, ec)) ctx.fail("the path is a directory, not a checkpoint file");
  if (::access(path.c_str(), R_OK) != 0)
    ctx.fail(std::string("cannot read: ") + std::strerror(errno));
  if (fs::file_size(path, ec) == 0) ctx.fail("the file is empty");

  Hdf5Session session;
  try {
    htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
    if (is_hdf5 == 0) ctx.fail("not an HDF5 file (a checkpoint is an HDF5 file, usually *.h5)");
    std::unique_ptr<H5::H5File> file;
    try {
      file = std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY, H5::FileCreatPropList::DEFAULT,
                                          file_access());
    } catch (const H5::Exception& e) {
      ctx.fail("cannot open: the file is damaged or truncated (" + describe(e) + ")");
    }
    return read_checkpoint(*file, ctx);
  } catch (const H5::Exception& e) {
    ctx.fail("cannot read " + ctx.where + ": " + describe(e) +
             " (the file may be damaged or truncated)");
  }
}

}  // namespace ng
