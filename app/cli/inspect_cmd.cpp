// `neurograph-cli inspect PATH`: a project (*.ngraph) or a checkpoint (*.h5), told apart by the
// file's first bytes (HDF5 signature), not by its name.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "app/cli/commands.h"
#include "app/cli/reporter.h"
#include "engine/io/inspect.h"
#include "engine/io/project.h"

namespace ng::cli {

namespace {

bool is_hdf5(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  return f.gcount() == 8 && std::memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

}  // namespace

int run_inspect(const InspectArgs& a) {
  namespace fs = std::filesystem;
  if (!fs::exists(a.path)) throw Error("'" + a.path + "' not found");
  if (fs::is_directory(a.path))
    throw Error("'" + a.path + "' is a folder; inspect takes a project file or a checkpoint");
  // A damaged checkpoint has lost its signature: go by its name then, so that the message is
  // the checkpoint reader's, not a JSON parse error.
  const std::string ext = fs::path(a.path).extension().string();
  if (is_hdf5(a.path) || ext == ".h5" || ext == ".hdf5") {
    if (a.json)
      print_json_line(inspect_checkpoint_json(a.path));
    else
      std::fputs(inspect_checkpoint_report(a.path).c_str(), stdout);
    return 0;
  }
  ProjectSpec p = load_project(a.path);
  const int64_t batch = p.training.batch_size;
  if (a.json)
    print_json_line(inspection_to_json(inspect_project(p, batch)));
  else
    std::fputs(inspect_project_report(p, batch).c_str(), stdout);
  return 0;
}

}  // namespace ng::cli
