#include "model/requantize.h"

#include "tensor/quant.h"

namespace riglm {

Result<GgufWriter> RequantizeWriter(const GgufFile& source, const uint8_t* source_bytes, const QuantRecipe& recipe) {
  GgufWriter w;
  for (const auto& [key, value] : source.metadata()) {
    if (key != "general.alignment") w.Set(key, value);
  }
  int64_t num_layers = 0;
  for (const GgufTensorInfo& t : source.tensors()) {
    if (t.name.rfind("blk.", 0) == 0) num_layers = std::max<int64_t>(num_layers, std::stoll(t.name.substr(4)) + 1);
  }
  for (const GgufTensorInfo& t : source.tensors()) {
    const uint8_t* data = source_bytes + source.data_offset_bytes() + t.offset_bytes;
    if (t.dims.size() < 2) {
      w.AddTensor(t.name, t.type, t.dims, std::vector<uint8_t>(data, data + t.size_bytes));
      continue;
    }
    if (!CanDequantize(t.type)) {
      return Unsupported(source.name() + ": tensor '" + t.name + "' has type " + std::string(DTypeName(t.type)) +
                         ", which cannot be re-encoded");
    }
    int64_t layer = -1;
    std::string short_name = t.name;
    if (t.name.rfind("blk.", 0) == 0) {
      layer = std::stoll(t.name.substr(4));
      short_name = t.name.substr(t.name.find('.', 4) + 1);
    }
    const int64_t cols = static_cast<int64_t>(t.dims[0]);
    const DType target = recipe.TypeForMatrix(short_name, layer, num_layers, cols);
    const DType from = t.type;
    const uint64_t in_row = RowBytes(from, cols), out_row = RowBytes(target, cols);
    w.AddTensor(t.name, target, t.dims, [=](uint64_t first, uint64_t count, uint8_t* out) {
      std::vector<float> row(cols);
      for (uint64_t r = 0; r < count; ++r) {
        DequantizeRow(from, data + (first + r) * in_row, row.data(), cols);
        QuantizeRow(target, row.data(), out + r * out_row, cols);
      }
    });
  }
  return w;
}

}  // namespace riglm
