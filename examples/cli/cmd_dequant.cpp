// `nextlm dequant MODEL --rows N --out PREFIX`: the first N rows of every
// non-F32 tensor, in file order, as PREFIX.f32 (little-endian floats) plus an
// index PREFIX.json — the layout of the fixtures' `dequant-rows` reference.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "args.h"
#include "commands.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "quant/dequant.h"

namespace nextlm::cli {

int cmd_dequant(int argc, char** argv) {
  Args args(argc, argv, {"rows", "out"}, {});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  long long rows = args.get_int("rows", 3);
  if (rows <= 0) throw UsageError{"--rows must be positive"};
  std::string prefix = args.require("out");
  const std::string& path = args.positionals()[0];
  auto f = gguf::GgufFile::open(path);

  gguf::FileSink out(prefix + ".f32");
  nlohmann::json index = nlohmann::json::array();
  std::vector<float> row;
  uint64_t offset = 0;
  for (const gguf::TensorInfo& t : f->tensors()) {
    if (t.type == quant::Type::F32) continue;
    int64_t n = std::min<int64_t>(rows, t.n_rows());
    row.resize(static_cast<size_t>(t.ne[0]));
    for (int64_t r = 0; r < n; ++r) {
      quant::dequantize_row(t.type, t.data + r * t.row_bytes(), row.data(), t.ne[0]);
      out.write(row.data(), row.size() * sizeof(float));
    }
    index.push_back({{"name", t.name},
                     {"type", quant::type_info(t.type).name},
                     {"ne0", t.ne[0]},
                     {"rows", n},
                     {"offset_floats", offset}});
    offset += static_cast<uint64_t>(n * t.ne[0]);
  }
  out.close();
  nlohmann::json doc = {{"source", std::filesystem::path(path).filename().string()}, {"tensors", index}};
  gguf::FileSink js(prefix + ".json");
  std::string text = doc.dump(2) + "\n";
  js.write(text.data(), text.size());
  js.close();
  fmt::print("wrote {} tensors, {} floats to {}.f32 and {}.json\n", index.size(), offset, prefix, prefix);
  return 0;
}

}  // namespace nextlm::cli
