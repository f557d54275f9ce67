// Migration decisions as a pure function: given the tiers' fill, the chunks
// with their heat and the byte budget of one interval, which chunks move where.
// The migration engine executes the moves (move_pages) in the order given.
//
// Rules, in the order they are applied:
// A chunk's score is max(heat, recent): its heat history, or its latest
// observation alone when that is higher, so a chunk that just became hot
// ranks as hot at once (a phase change is followed within an interval or
// two) while a chunk that just went cold keeps its history for a while. A
// chunk is *currently hot* when recent >= promote.
//
// Rules, in the order they are applied:
//  1. Capacity: a tier above its high watermark (a percentage of its cap)
//     sheds its coldest chunks to the next slower tier with room until it is
//     at or below its low watermark (slowest tiers first, so room opens
//     downwards before faster tiers demote). A tier without a cap never sheds:
//     its nodes' real free memory (`capacity`) only bounds promotion.
//  2. Heat: chunks with score >= promote go, hottest first, to the fastest
//     faster tier with room (below its high watermark and its capacity); when
//     that tier is full, the chunk swaps with the tier's coldest chunk if that
//     one is cold (score <= demote) or colder by more than (promote - demote),
//     and always strictly colder. A chunk with score between demote and
//     promote never moves on its own account.
//  3. Never moved: pinned chunks, chunks moved less than `hold` intervals ago,
//     chunks on a disabled tier; a chunk moves at most once per plan. A
//     currently hot chunk is never demoted (neither shed nor swapped out).
//  4. The bytes of all moves never exceed the budget; a swap moves both chunks
//     or neither.
// Sorting ties break by chunk id, so a plan is a deterministic function of its
// inputs. On stable heats nothing ping-pongs: every promotion or swap strictly
// raises the score held by the faster tier, and capacity demotion only happens
// after the tier was pushed over its high watermark, which promotion never does.
// May include only policy/ and the C++ standard library.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "policy/config.h"

namespace strata {

struct PlanTier {
  uint64_t limit = 0;     // the user's cap in bytes, 0 = none; watermarks are percents of it
  uint64_t resident = 0;  // bytes on the tier now, chunks and anything else
  // What the tier's nodes can hold for this program: resident plus their free
  // memory less a reserve; 0 = unbounded. Promotion fills the tier up to it
  // (and to the high watermark of a cap); it never causes a demotion.
  uint64_t capacity = 0;
  uint8_t high_pct = 90;  // watermarks, percent of limit (TierDef::high_pct/low_pct)
  uint8_t low_pct = 80;
  bool enabled = true;  // false: move_pages cannot reach it (e.g. a file heap)
};

inline constexpr uint64_t kNeverMoved = UINT64_MAX;

struct PlanChunk {
  uint64_t id = 0;
  int tier = 0;
  uint64_t bytes = 0;
  double heat = 0;  // [0, 1]
  double recent =
      -1;  // [0, 1]: the latest observation alone, scaled like heat; < 0: not known (= heat)
  uint64_t moved_at = kNeverMoved;  // interval of its last move
  bool pinned = false;
};

enum class MoveReason : uint8_t {
  kWatermark,  // demoted: its tier was above the high watermark
  kPromote,    // promoted into free room
  kSwapOut,    // demoted to make room for the next move's hotter chunk
  kSwapIn,     // promoted into the room the previous move made
};
const char* move_reason_name(MoveReason r);

struct Move {
  uint64_t chunk;
  int from;
  int to;
  uint64_t bytes;
  MoveReason reason;
  bool operator==(const Move&) const = default;
};

// Counts are chunks; a chunk is counted under at most one reason per plan.
struct PlanStats {
  uint64_t promoted_bytes = 0;
  uint64_t demoted_bytes = 0;
  uint32_t promoted = 0;
  uint32_t demoted = 0;
  uint32_t swaps = 0;
  uint32_t skipped_pinned = 0;   // rules wanted it moved, but it is pinned
  uint32_t skipped_held = 0;     // ... it moved less than `hold` intervals ago
  uint32_t skipped_budget = 0;   // ... the budget was spent
  uint32_t skipped_no_room = 0;  // ... no target tier had room (nor a swap partner)
};

struct Plan {
  std::vector<Move> moves;  // execution order: a swap's demotion precedes its promotion
  PlanStats stats;

  // Working memory kept between calls: planning with a reused Plan does not
  // allocate once the vectors have grown to the number of chunks.
  struct Scratch {
    std::vector<uint32_t> order;  // chunk indices by tier, then heat ascending
    std::vector<uint32_t> cand;   // promotion candidates, hottest first
    std::vector<uint8_t> state;   // per chunk: moved / counted
  } scratch;
};

// Bytes one interval may move: rate (bytes/s) * interval_ms.
uint64_t interval_budget(const MigrateConfig& cfg);

// Fills *plan for `interval` (replacing its moves and stats). Tiers are fastest
// first; only the first kMaxTiers count, and a chunk whose tier is not among
// them stays put. Uses cfg.promote, cfg.demote and cfg.hold.
void plan_migrations(std::span<const PlanTier> tiers, std::span<const PlanChunk> chunks,
                     const MigrateConfig& cfg, uint64_t interval, uint64_t budget, Plan* plan);

}  // namespace strata
