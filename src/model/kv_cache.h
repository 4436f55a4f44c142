// Key/value cache for a fixed number of sequences, each up to `context_length` positions, paged:
// memory is a pool of blocks of kKvBlockPositions positions, handed to a sequence as it grows
// and back to the pool when it is released, so short sequences leave room for others. The pool
// is laid out head by head ([layer][KV head][block][position]): a head's rows in blocks b and
// b + 1 are adjacent, so a sequence holding consecutive blocks (one that grew alone, or a prompt
// reserved at once) is one contiguous stream per head for attention to read. (Blocks that held
// every layer and head of their positions put each head's 32 rows 512 KiB apart on a 1B model:
// decoding after 4096 tokens spent ~36% longer in attention than over contiguous rows.)
// Sequences that grow side by side (a server's parallel slots) are kept contiguous too: a
// sequence's next block is the one after its last when free, and a new sequence starts halfway
// into the largest free run when another sequence is growing into that run.
// F16 by default (half the memory of F32, what llama.cpp uses); Q8_0 halves it again, for
// heads whose width is a multiple of 32. Keys and values may differ (like llama.cpp's -ctk/-ctv).
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "backend/cpu/ops.h"
#include "model/config.h"
#include "tensor/dtype.h"
#include "util/large_buffer.h"
#include "util/status.h"

namespace riglm {

struct KvCacheTypes {
  DType keys = DType::kF16;
  DType values = DType::kF16;
};

// OK when the model's heads can be cached in these types; else says which types can.
Status CheckKvCacheTypes(const ModelConfig& config, KvCacheTypes types);
// "f16", "f32", "q8_0" (any case) to a type; an error names the accepted ones.
Result<DType> ParseKvCacheType(std::string_view name);

class KvCache {
 public:
  static constexpr int64_t kBlockPositions = cpu::kKvBlockPositions;

  // Caches layers [first_layer, first_layer + num_layers) of a model, with room for
  // `capacity_positions` positions over all sequences (rounded up to whole blocks); -1: enough
  // for every sequence to fill its context.
  // REQUIRES: CheckKvCacheTypes(config, types).ok().
  KvCache(const ModelConfig& config, int64_t context_length, int num_sequences, int64_t first_layer = 0,
          int64_t num_layers = -1, KvCacheTypes types = {}, int64_t capacity_positions = -1);

  int64_t context_length() const { return context_length_; }
  int num_sequences() const { return num_sequences_; }
  int64_t kv_width() const { return kv_width_; }
  KvCacheTypes types() const { return types_; }
  uint64_t size_bytes() const { return key_bytes_ + value_bytes_; }
  int64_t blocks_total() const { return blocks_total_; }
  int64_t blocks_free() const { return static_cast<int64_t>(free_blocks_.size()); }
  // Bytes one position takes in one layer, keys and values together.
  static uint64_t BytesPerPosition(const ModelConfig& config, KvCacheTypes types);
  static int64_t BlocksFor(int64_t positions) { return (positions + kBlockPositions - 1) / kBlockPositions; }

  // Gives `seq` blocks for positions [0, end_position); false (and nothing taken) when the pool
  // has too few free blocks. REQUIRES: end_position <= context_length().
  bool Reserve(int seq, int64_t end_position);
  // Returns every block of `seq` to the pool; its cached positions are gone.
  void Release(int seq);

  // The rows of one KV head, for one sequence and model layer. Valid until Reserve or Release.
  cpu::KvView keys(int seq, int64_t layer, int64_t kv_head) const;
  cpu::KvView values(int seq, int64_t layer, int64_t kv_head) const;
  // Writes one position's key and value (kv_width floats each), converting to the cache types.
  // REQUIRES: the position was reserved.
  void Store(int seq, int64_t layer, int64_t position, const float* key, const float* value);

 private:
  // Where layer `layer`'s head `kv_head` starts: every block of it, kBlockPositions rows each.
  uint64_t HeadOffset(uint64_t head_row_bytes, int64_t layer, int64_t kv_head) const {
    return static_cast<uint64_t>(((layer - first_layer_) * kv_heads_ + kv_head) * blocks_total_ * kBlockPositions) *
           head_row_bytes;
  }
  uint8_t* Row(uint8_t* pool, uint64_t block_bytes, uint64_t head_row_bytes, int seq, int64_t layer, int64_t kv_head,
               int64_t position) const;
  // The free block `seq` takes next (see the layout above). REQUIRES: a free block.
  int32_t NextBlock(int seq) const;

  int64_t context_length_;
  int num_sequences_;
  int64_t first_layer_;
  int64_t num_layers_;
  int64_t kv_width_;
  int64_t head_dim_;
  int64_t kv_heads_;
  KvCacheTypes types_;
  uint64_t key_head_row_bytes_, value_head_row_bytes_;
  uint64_t key_block_bytes_, value_block_bytes_;  // one block of one layer's head
  uint64_t key_bytes_, value_bytes_;
  int64_t blocks_total_;
  LargeBuffer keys_;    // [layer][kv_head][block][position in block] rows of head_dim elements
  LargeBuffer values_;  // same layout
  std::set<int32_t> free_blocks_;
  std::vector<std::vector<int32_t>> block_tables_;  // per sequence, in position order
};

}  // namespace riglm
