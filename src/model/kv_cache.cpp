#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "backend/cpu/activations.h"
#include "tensor/quant.h"
#include "util/strings.h"

namespace riglm {

Status CheckKvCacheTypes(const ModelConfig& config, KvCacheTypes types) {
  for (DType type : {types.keys, types.values}) {
    if (!cpu::KvTypeSupported(type, config.head_dim)) {
      return InvalidArgument("a " + std::string(DTypeName(type)) + " KV cache needs heads of a multiple of 32 " +
                             "elements; this model's are " + std::to_string(config.head_dim) + " (use f16 or f32)");
    }
  }
  return Status::Ok();
}

Result<DType> ParseKvCacheType(std::string_view name) {
  const std::string lower = ToLower(name);
  if (lower == "f16") return DType::kF16;
  if (lower == "f32") return DType::kF32;
  if (lower == "q8_0") return DType::kQ8_0;
  return InvalidArgument("unknown KV cache type '" + std::string(name) + "' (f16, q8_0 or f32)");
}

uint64_t KvCache::BytesPerPosition(const ModelConfig& config, KvCacheTypes types) {
  return RowBytes(types.keys, config.kv_width()) + RowBytes(types.values, config.kv_width());
}

KvCache::KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer,
                 int64_t num_layers, KvCacheTypes types, int64_t capacity_positions)
    : context_length_(context_length),
      num_sequences_(num_sequences),
      first_layer_(first_layer),
      num_layers_(num_layers < 0 ? config.block_count - first_layer : num_layers),
      kv_width_(config.kv_width()),
      head_dim_(config.head_dim),
      kv_heads_(config.head_count_kv),
      types_(types),
      key_head_row_bytes_(RowBytes(types.keys, head_dim_)),
      value_head_row_bytes_(RowBytes(types.values, head_dim_)),
      block_tables_(num_sequences) {
  blocks_total_ = capacity_positions < 0 ? BlocksFor(context_length) * num_sequences : BlocksFor(capacity_positions);
  key_block_bytes_ = static_cast<uint64_t>(kBlockPositions) * key_head_row_bytes_;
  value_block_bytes_ = static_cast<uint64_t>(kBlockPositions) * value_head_row_bytes_;
  const auto head_blocks = static_cast<uint64_t>(num_layers_ * kv_heads_ * blocks_total_);
  key_bytes_ = head_blocks * key_block_bytes_;
  value_bytes_ = head_blocks * value_block_bytes_;
  keys_ = AllocateLarge(key_bytes_);
  values_ = AllocateLarge(value_bytes_);
  if (keys_ == nullptr || values_ == nullptr) throw std::bad_alloc();
  std::memset(keys_.get(), 0, key_bytes_);
  std::memset(values_.get(), 0, value_bytes_);
  for (int64_t b = 0; b < blocks_total_; ++b) free_blocks_.insert(free_blocks_.end(), static_cast<int32_t>(b));
  // A sequence's table grows a block at a time as it decodes; sized now, that growth allocates nothing.
  for (std::vector<int32_t>& table : block_tables_) {
    table.reserve(static_cast<size_t>(std::min(BlocksFor(context_length), blocks_total_)));
  }
}

int32_t KvCache::NextBlock(int seq) const {
  const std::vector<int32_t>& table = block_tables_[seq];
  if (!table.empty()) {
    // Right after the sequence's last block, else wherever is lowest.
    const auto after = free_blocks_.find(table.back() + 1);
    return after != free_blocks_.end() ? *after : *free_blocks_.begin();
  }
  // A new sequence: the largest run of free blocks (the first of equal ones).
  int32_t best_begin = -1, best_length = 0, run_begin = -1, previous = -2;
  for (int32_t b : free_blocks_) {
    if (b != previous + 1) run_begin = b;
    if (b - run_begin + 1 > best_length) {
      best_begin = run_begin;
      best_length = b - run_begin + 1;
    }
    previous = b;
  }
  // When the block before the run is another sequence's last, that sequence grows into the run:
  // leave it the first half.
  for (const std::vector<int32_t>& other : block_tables_) {
    if (!other.empty() && other.back() == best_begin - 1) return best_begin + best_length / 2;
  }
  return best_begin;
}

bool KvCache::Reserve(int seq, int64_t end_position) {
  std::vector<int32_t>& table = block_tables_[seq];
  const int64_t needed = BlocksFor(end_position) - static_cast<int64_t>(table.size());
  if (needed <= 0) return true;
  if (needed > blocks_free()) return false;
  for (int64_t i = 0; i < needed; ++i) {
    const int32_t block = NextBlock(seq);
    free_blocks_.erase(block);
    table.push_back(block);
  }
  return true;
}

void KvCache::Release(int seq) {
  std::vector<int32_t>& table = block_tables_[seq];
  free_blocks_.insert(table.begin(), table.end());
  table.clear();
}

cpu::KvView KvCache::keys(int seq, int64_t layer, int64_t kv_head) const {
  return {keys_.get() + HeadOffset(key_head_row_bytes_, layer, kv_head), types_.keys, key_head_row_bytes_,
          block_tables_[seq].data(), key_block_bytes_};
}

cpu::KvView KvCache::values(int seq, int64_t layer, int64_t kv_head) const {
  return {values_.get() + HeadOffset(value_head_row_bytes_, layer, kv_head), types_.values, value_head_row_bytes_,
          block_tables_[seq].data(), value_block_bytes_};
}

uint8_t* KvCache::Row(uint8_t* pool, uint64_t block_bytes, uint64_t head_row_bytes, int seq, int64_t layer,
                      int64_t kv_head, int64_t position) const {
  const int32_t block = block_tables_[seq][position / kBlockPositions];
  return pool + static_cast<uint64_t>(block) * block_bytes + HeadOffset(head_row_bytes, layer, kv_head) +
         static_cast<uint64_t>(position % kBlockPositions) * head_row_bytes;
}

void KvCache::Store(int seq, int64_t layer, int64_t position, const float* key, const float* value) {
  for (int64_t h = 0; h < kv_heads_; ++h) {
    cpu::QuantizeActivations(types_.keys, key + h * head_dim_,
                             Row(keys_.get(), key_block_bytes_, key_head_row_bytes_, seq, layer, h, position),
                             head_dim_);
    cpu::QuantizeActivations(types_.values, value + h * head_dim_,
                             Row(values_.get(), value_block_bytes_, value_head_row_bytes_, seq, layer, h, position),
                             head_dim_);
  }
}

}  // namespace riglm
