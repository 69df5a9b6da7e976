// RFC 6962/9162 Merkle hashing and proofs: the published vectors, and every tree size 1..300
// with every inclusion index and every consistency pair, against a naive recursive MTH/PATH/
// SUBPROOF written here from the RFC's definitions.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>

#include "log_test_util.hpp"
#include "merkle.hpp"

using namespace tillid;
using namespace logtest;

namespace {

LogHash from_hex(const std::string& h) {
  LogHash out{};
  for (std::size_t i = 0; i < 32; ++i) out[i] = static_cast<unsigned char>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return out;
}
Bytes bytes_from_hex(const std::string& h) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<unsigned char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 taken literally (recursive, memoised on ranges).
struct Naive {
  std::vector<LogHash> leaves;
  std::map<std::pair<std::uint64_t, std::uint64_t>, LogHash> memo;

  static std::uint64_t k_of(std::uint64_t n) {
    std::uint64_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }
  static LogHash node(const LogHash& l, const LogHash& r) {
    Bytes b{0x01};
    b.insert(b.end(), l.begin(), l.end());
    b.insert(b.end(), r.begin(), r.end());
    return sha256(b);
  }
  LogHash mth(std::uint64_t b, std::uint64_t e) {
    const std::uint64_t n = e - b;
    if (n == 0) return sha256({});
    if (n == 1) return leaves[b];
    if (auto it = memo.find({b, e}); it != memo.end()) return it->second;
    const std::uint64_t k = k_of(n);
    return memo[{b, e}] = node(mth(b, b + k), mth(b + k, e));
  }
  std::vector<LogHash> path(std::uint64_t m, std::uint64_t b, std::uint64_t e) {
    const std::uint64_t n = e - b;
    if (n == 1) return {};
    const std::uint64_t k = k_of(n);
    std::vector<LogHash> p;
    if (m < k) {
      p = path(m, b, b + k);
      p.push_back(mth(b + k, e));
    } else {
      p = path(m - k, b + k, e);
      p.push_back(mth(b, b + k));
    }
    return p;
  }
  std::vector<LogHash> subproof(std::uint64_t m, std::uint64_t b, std::uint64_t e, bool whole) {
    const std::uint64_t n = e - b;
    if (m == n) return whole ? std::vector<LogHash>{} : std::vector<LogHash>{mth(b, e)};
    const std::uint64_t k = k_of(n);
    std::vector<LogHash> p;
    if (m <= k) {
      p = subproof(m, b, b + k, whole);
      p.push_back(mth(b + k, e));
    } else {
      p = subproof(m - k, b + k, e, false);
      p.push_back(mth(b, b + k));
    }
    return p;
  }
};

}  // namespace

TEST_CASE("RFC 6962 vectors: tree hashes and proofs", "[log][merkle]") {
  std::ifstream f(std::string(TILLID_SHARED_DIR) + "/vectors/merkle/rfc6962.json");
  REQUIRE(f.good());
  const auto j = nlohmann::json::parse(f);
  std::vector<Bytes> leaves;
  for (const auto& l : j.at("leaves_hex")) leaves.push_back(bytes_from_hex(l.get<std::string>()));
  const auto& roots = j.at("roots_by_tree_size_hex");
  REQUIRE(roots.size() == leaves.size() + 1);

  merkle::Hasher h;
  merkle::Tree tree;
  Naive naive;
  CHECK(merkle::empty_root() == from_hex(roots[0].get<std::string>()));
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const LogHash leaf = log_leaf_hash(leaves[i]);
    CHECK(leaf == leaf_hash(leaves[i]));
    tree.append(h, leaf);
    naive.leaves.push_back(leaf);
  }
  for (std::size_t n = 0; n <= leaves.size(); ++n) {
    INFO("tree size " << n);
    CHECK(tree.root_at(h, n) == from_hex(roots[n].get<std::string>()));
    CHECK(naive.mth(0, n) == from_hex(roots[n].get<std::string>()));
  }
  for (const auto& p : j.at("inclusion_proofs")) {
    const auto index = p.at("leaf_index").get<std::uint64_t>(), size = p.at("tree_size").get<std::uint64_t>();
    std::vector<LogHash> want;
    for (const auto& x : p.at("proof_hex")) want.push_back(from_hex(x.get<std::string>()));
    INFO("inclusion " << index << " in " << size);
    CHECK(tree.inclusion_path(h, index, size) == want);
    CHECK(verify_inclusion(naive.leaves[index], index, size, want, from_hex(roots[size].get<std::string>())));
  }
  for (const auto& p : j.at("consistency_proofs")) {
    const auto m = p.at("size1").get<std::uint64_t>(), n = p.at("size2").get<std::uint64_t>();
    std::vector<LogHash> want;
    for (const auto& x : p.at("proof_hex")) want.push_back(from_hex(x.get<std::string>()));
    INFO("consistency " << m << " -> " << n);
    CHECK(tree.consistency_path(h, m, n) == want);
    CHECK(verify_consistency(m, n, from_hex(roots[m].get<std::string>()), from_hex(roots[n].get<std::string>()), want));
  }
}

TEST_CASE("proofs round-trip for every size 1..300, every index and every pair", "[log][merkle]") {
  constexpr std::uint64_t kMax = 300;
  merkle::Hasher h;
  merkle::Tree tree;
  Naive naive;
  for (std::uint64_t i = 0; i < kMax; ++i) {
    const Bytes data{static_cast<unsigned char>(i), static_cast<unsigned char>(i >> 8), 0x5a};
    tree.append(h, log_leaf_hash(data));
    naive.leaves.push_back(leaf_hash(data));
  }
  std::uint64_t inclusion = 0, consistency = 0, failures = 0;
  for (std::uint64_t n = 1; n <= kMax; ++n) {
    const LogHash root = naive.mth(0, n);
    if (tree.root_at(h, n) != root) ++failures;
    for (std::uint64_t m = 0; m < n; ++m) {
      const auto p = tree.inclusion_path(h, m, n);
      if (p != naive.path(m, 0, n) || !verify_inclusion(naive.leaves[m], m, n, p, root)) ++failures;
      // The same proof must not prove another index or another leaf.
      if (n > 1 && verify_inclusion(naive.leaves[m], (m + 1) % n, n, p, root)) ++failures;
      if (verify_inclusion(naive.leaves[(m + 1) % kMax], m, n, p, root)) ++failures;
      ++inclusion;
    }
    for (std::uint64_t m = 1; m <= n; ++m) {
      const auto p = tree.consistency_path(h, m, n);
      const auto want = m == n ? std::vector<LogHash>{} : naive.subproof(m, 0, n, true);
      const LogHash old_root = naive.mth(0, m);
      if (p != want || !verify_consistency(m, n, old_root, root, p)) ++failures;
      if (m < n) {
        // A different old root, or a damaged proof, must fail.
        if (verify_consistency(m, n, naive.mth(0, m - 1), root, p)) ++failures;
        auto bad = p;
        bad.back()[0] ^= 1;
        if (verify_consistency(m, n, old_root, root, bad)) ++failures;
      }
      ++consistency;
    }
  }
  CHECK(failures == 0);
  CHECK(inclusion == kMax * (kMax + 1) / 2);
  CHECK(consistency == kMax * (kMax + 1) / 2);
  // Sizes out of range never verify.
  CHECK_FALSE(verify_inclusion(naive.leaves[0], 5, 5, {}, naive.mth(0, 5)));
  CHECK_FALSE(verify_consistency(5, 4, naive.mth(0, 5), naive.mth(0, 4), {}));
  CHECK(verify_consistency(0, 7, naive.mth(0, 0), naive.mth(0, 7), {}));
}

TEST_CASE("a log's own proofs verify against its roots and survive the text format", "[log][merkle]") {
  TempDir dir;
  auto log = AccessLog::create(dir.path / "log", options());
  REQUIRE(log.ok());
  std::vector<LogEvent> events;
  for (int i = 0; i < 40; ++i) events.push_back(event(i));
  REQUIRE(log->append_batch(events).ok());
  REQUIRE(log->size() == 40);
  for (std::uint64_t n = 1; n <= 40; ++n) {
    const LogHash root = log->root_at(n).value();
    for (std::uint64_t m = 0; m < n; ++m) {
      auto p = log->inclusion_proof(m, n);
      REQUIRE(p.ok());
      auto parsed = parse_inclusion_proof(format_proof(*p));
      REQUIRE(parsed.ok());
      CHECK(parsed->entry == p->entry);
      auto e = decode_log_entry(parsed->entry);
      REQUIRE(e.ok());
      CHECK(e->seq == m);
      CHECK(verify_inclusion(leaf_hash(parsed->entry), parsed->index, parsed->tree_size, parsed->path, root));
    }
    for (std::uint64_t m = 0; m <= n; ++m) {
      auto p = log->consistency_proof(m, n);
      REQUIRE(p.ok());
      auto parsed = parse_consistency_proof(format_proof(*p));
      REQUIRE(parsed.ok());
      CHECK(verify_consistency(parsed->old_size, parsed->new_size, log->root_at(m).value(), root, parsed->path));
    }
  }
  CHECK_FALSE(log->inclusion_proof(40, 40).ok());
  CHECK_FALSE(log->consistency_proof(5, 41).ok());
  CHECK_FALSE(parse_inclusion_proof("tillid-log inclusion proof v1\nindex 01\nsize 2\n").ok());
  CHECK_FALSE(parse_consistency_proof("tillid-log consistency proof v1\nold-size 1\nnew-size 2\npath AAAA\n").ok());
}
