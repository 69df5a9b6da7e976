// Opening a log through its index (LOG-FORMAT.md §3.7) as an attacker with the disk sees it:
// the index is only a cache, trusted once it hashes to a signed root. Edits to it, to the
// checkpoint it points at, or to the entries after it never make the writer accept anything
// a signature does not cover; edits inside indexed blocks are the auditor's to find (and the
// writer refuses proofs over them). The auditor's functions (verify_log, prove_*, log_root_at)
// recompute everything from the files and are the reference here.
#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "log_test_util.hpp"
#include "merkle.hpp"

using namespace tillid;
using namespace logtest;

namespace {

constexpr std::size_t kIndexHeader = 20, kIndexRecord = 48;

// A log of `n` entries, a checkpoint after every `per_cp`, made as an unlocked vault makes it.
void build(const fs::path& dir, std::uint64_t n, std::uint64_t per_cp) {
  Key key;
  auto log = AccessLog::create(dir, options());
  REQUIRE(log.ok());
  REQUIRE(log->authenticate_tail(Secret::random(32), event(0)).ok());
  std::vector<LogEvent> batch;
  for (std::uint64_t i = 0; i < n; i += per_cp) {
    batch.clear();
    for (std::uint64_t j = i; j < std::min(n, i + per_cp); ++j) batch.push_back(event(static_cast<int>(j)));
    REQUIRE(log->append_batch(batch).ok());
    REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
  }
}

// Rewrite entry `seq` as an attacker would: same length, correct check bytes, its MAC kept.
void edit_entry(const fs::path& dir, std::uint64_t seq) {
  auto raw = RawFile::load(dir / "entries", kEntriesHeaderSize);
  REQUIRE(seq < raw.records.size());
  Bytes& p = raw.records[seq];
  p.back() = p.back() == '1' ? '2' : '1';  // the last byte of its details
  raw.save(dir / "entries");
}

void check_against_auditor(const AccessLog& log, const fs::path& dir) {
  const std::uint64_t n = log.size();
  CHECK(log.root() == log_root_at(dir).value());
  for (std::uint64_t m : {std::uint64_t{1}, std::uint64_t{255}, std::uint64_t{256}, std::uint64_t{257}, n / 3, n - 1}) {
    CHECK(log.root_at(m).value() == log_root_at(dir, m).value());
    const auto mine = log.consistency_proof(m, n).value();
    CHECK(mine.path == prove_consistency(dir, m, n).value().path);
  }
  for (std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{255}, std::uint64_t{256}, n / 2, n - 1}) {
    const auto mine = log.inclusion_proof(seq, n).value();
    const auto ref = prove_inclusion(dir, seq, n).value();
    CHECK(mine.path == ref.path);
    CHECK(mine.entry == ref.entry);
  }
}

}  // namespace

TEST_CASE("BlockTree gives the roots and proofs of the full tree", "[log][index]") {
  merkle::Hasher h;
  std::vector<LogHash> leaves;
  merkle::Tree full;
  merkle::BlockTree blocks;
  int loads = 0;
  auto load = [&](std::uint64_t b) -> Result<std::vector<LogHash>> {
    ++loads;
    return std::vector<LogHash>(leaves.begin() + static_cast<std::ptrdiff_t>(b * 256),
                                leaves.begin() + static_cast<std::ptrdiff_t>((b + 1) * 256));
  };
  for (std::uint64_t i = 0; i < 1100; ++i) {
    LogHash l{};
    l[0] = static_cast<unsigned char>(i);
    l[1] = static_cast<unsigned char>(i >> 8);
    leaves.push_back(h.leaf(l));
    full.append(h, leaves.back());
    blocks.append(h, leaves.back());
    const std::uint64_t n = i + 1;
    loads = 0;
    REQUIRE(blocks.root(h) == full.root_at(h, n));
    CHECK(loads == 0);  // a whole root never reads a block
    if (n % 97 == 0 || n == 1024 || n == 1100) {
      for (std::uint64_t m = 0; m < n; m += 37) {
        CHECK(blocks.inclusion_path(h, m, n, load).value() == full.inclusion_path(h, m, n));
        CHECK(blocks.consistency_path(h, m, n, load).value() == full.consistency_path(h, m, n));
        CHECK(blocks.root_at(h, m, load).value() == full.root_at(h, m));
      }
    }
  }
  SECTION("a block read back differently is refused, not used") {
    leaves[300][5] ^= 1;
    auto p = blocks.inclusion_path(h, 300, 1100, load);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code == Errc::corrupt);
  }
}

TEST_CASE("a reopened log opens through its index and proves what the auditor computes", "[log][index]") {
  TempDir dir;
  build(dir.path, 1000, 100);
  CHECK(fs::file_size(dir.path / "index") == kIndexHeader + 3 * kIndexRecord);  // blocks 0..2 signed
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK_FALSE(log->recovery().full_check);
  CHECK(log->size() == 1000);
  check_against_auditor(*log, dir.path);
  // Appends and checkpoints carry on, and the index follows the next signed blocks.
  Key key;
  std::vector<LogEvent> more(100, event(1));
  REQUIRE(log->append_batch(more).ok());
  REQUIRE(log->sign_checkpoint(key.sk, key.pk).ok());
  CHECK(fs::file_size(dir.path / "index") == kIndexHeader + 4 * kIndexRecord);
  log = make_error(Errc::internal, "closed");  // one writer at a time
  log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK_FALSE(log->recovery().full_check);
  auto rep = verify_log(dir.path, Key().vkey(kOrigin));
  REQUIRE(rep.ok());
  CHECK(rep->clean());
  CHECK(rep->entries == 1100);
}

TEST_CASE("an index that is missing, edited or a symlink is rebuilt by the full check, never trusted",
          "[log][index]") {
  TempDir dir;
  build(dir.path, 800, 100);
  const Bytes good = read_bytes(dir.path / "index");
  const LogHash root = log_root_at(dir.path).value();
  SECTION("missing (a version 2 log)") { fs::remove(dir.path / "index"); }
  SECTION("a block hash edited") {
    Bytes b = good;
    b[kIndexHeader + kIndexRecord + 3] ^= 0x40;
    write_bytes(dir.path / "index", b);
  }

  SECTION("its checkpoint pointer aimed into the middle of a record") {
    Bytes b = good;
    b[kIndexHeader + 2 * kIndexRecord + 47] ^= 0x05;
    write_bytes(dir.path / "index", b);
  }
  std::optional<fs::path> target;
  SECTION("a symlink to another file") {
    target = dir.path.parent_path() / (dir.path.filename().string() + "-target");
    write_bytes(*target, Bytes{'k', 'e', 'e', 'p'});
    fs::remove(dir.path / "index");
    fs::create_symlink(*target, dir.path / "index");
  }
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK(log->recovery().full_check);
  CHECK(log->root() == root);
  CHECK(read_bytes(dir.path / "index") == good);
  if (target) {
    CHECK(read_bytes(*target) == Bytes{'k', 'e', 'e', 'p'});  // replaced, never written through
    fs::remove(*target);
  }
  struct stat st {};
  REQUIRE(::lstat((dir.path / "index").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  log = make_error(Errc::internal, "closed");
  log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK_FALSE(log->recovery().full_check);
}

TEST_CASE("an edit after the last indexed block, or a forged newest checkpoint, is refused at open",
          "[log][index]") {
  TempDir dir;
  build(dir.path, 1000, 100);
  SECTION("an entry the newest checkpoint covers, after the indexed blocks") { edit_entry(dir.path, 900); }
  SECTION("a checkpoint signed by another key, appended") {
    Key other(9);
    TempDir forged_dir;
    {
      auto f = AccessLog::create(forged_dir.path, options(kOrigin, true, other.pk));
      REQUIRE(f.ok());
      std::vector<LogEvent> evs(1000, event(1));
      REQUIRE(f->append_batch(evs).ok());
      REQUIRE(f->sign_checkpoint(other.sk, other.pk).ok());
    }
    auto cps = read_bytes(forged_dir.path / "checkpoints");
    auto mine = read_bytes(dir.path / "checkpoints");
    mine.insert(mine.end(), cps.begin() + kCheckpointsHeaderSize, cps.end());
    write_bytes(dir.path / "checkpoints", mine);
  }
  auto log = AccessLog::open(dir.path, options());
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().code == Errc::corrupt);
}

TEST_CASE("an edit inside an indexed block: the writer opens, refuses its proof; the auditor names it",
          "[log][index]") {
  TempDir dir;
  build(dir.path, 1000, 100);
  edit_entry(dir.path, 10);
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());  // LOG-FORMAT.md §3.7: not re-checked at open
  CHECK_FALSE(log->recovery().full_check);
  auto p = log->inclusion_proof(10, 1000);
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == Errc::corrupt);
  CHECK(log->inclusion_proof(600, 1000).ok());  // other blocks are served
  CHECK_FALSE(log->root_at(100).ok());          // a root inside the altered block reads it too
  auto rep = verify_log(dir.path, Key().vkey(kOrigin));
  REQUIRE(rep.ok());
  REQUIRE_FALSE(rep->clean());
  CHECK(rep->problems.front().kind == LogProblemKind::edited);
  CHECK(rep->first_bad_seq == 0);  // "an entry in seq 0..99": the first checkpoint no longer matches
}

TEST_CASE("a wrong block offset in the index costs a rescan of the framing, never a wrong proof", "[log][index]") {
  TempDir dir;
  build(dir.path, 1000, 100);
  Bytes b = read_bytes(dir.path / "index");
  b[kIndexHeader + 32 + 7] ^= 0x01;  // block 0's end = where block 1 begins
  write_bytes(dir.path / "index", b);
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK_FALSE(log->recovery().full_check);  // only the last indexed offset is checked at open
  check_against_auditor(*log, dir.path);
}

TEST_CASE("a torn last entry is cut through the indexed open as through the full one", "[log][index]") {
  TempDir dir;
  build(dir.path, 600, 100);
  auto bytes = read_bytes(dir.path / "entries");
  const std::size_t size = bytes.size();
  bytes.insert(bytes.end(), {0x00, 0x00, 0x00, 0x30, 0x01, 0x02});  // a record that runs past the end
  write_bytes(dir.path / "entries", bytes);
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  CHECK_FALSE(log->recovery().full_check);
  CHECK(log->recovery().entries_torn_bytes == 6);
  CHECK(fs::file_size(dir.path / "entries") == size);
  CHECK(log->size() == 600);
}

TEST_CASE("entries() reads a log larger than its read chunk whole, as the auditor's reader does", "[log][index]") {
  TempDir dir;
  build(dir.path, 60000, 10000);  // about 6 MB: records straddle the 4 MiB chunk boundary
  REQUIRE(fs::file_size(dir.path / "entries") > (4u << 20));
  auto log = AccessLog::open(dir.path, options());
  REQUIRE(log.ok());
  const auto all = log->entries().value();
  REQUIRE(all.size() == 60000);
  for (std::uint64_t i = 0; i < all.size(); ++i) REQUIRE(all[i].seq == i);
  LogQuery q;
  q.item_id = "item3";
  CHECK(log->entries(q).value().size() == read_log_entries(dir.path, q).value().size());
}
