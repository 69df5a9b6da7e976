// Offline check of a court export bundle (EXPORT-FORMAT.md §5): verify_export. Needs no
// vault, no passphrase and no network: only the bundle's files and, ideally, a key the court
// obtained independently. Every check runs; each problem names the file and what is wrong.
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "access_log_format.hpp"
#include "export_format.hpp"
#include "posix_io.hpp"
#include "sha256.hpp"
#include "tillid/export.hpp"

namespace tillid {

using namespace detail;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Key32 = std::array<unsigned char, 32>;

namespace {

struct PinnedKey {
  Key32 pk{};
  std::optional<std::string> name;  // set when given as a signed-note verifier key
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

Result<PinnedKey> parse_pinned_key(const std::string& given) {
  const std::string text = trim(given);
  PinnedKey k;
  if (text.rfind("-----BEGIN", 0) == 0) {
    if (auto pk = exportfmt::parse_ed25519_pem(text + "\n")) { k.pk = *pk; return k; }
    return make_error(Errc::invalid_argument, "the key given is PEM but not an Ed25519 public key");
  }
  if (text.size() == 64) {
    if (auto b = exportfmt::unhex(text); b && b->size() == 32) {
      std::copy(b->begin(), b->end(), k.pk.begin());
      return k;
    }
  }
  // Signed-note verifier key "<name>+<key id hex>+<base64(0x01 || key)>" (LOG-FORMAT.md §6);
  // the base64 part may contain '+', so split at the first two only.
  if (auto p1 = text.find('+'); p1 != std::string::npos) {
    if (auto p2 = text.find('+', p1 + 1); p2 != std::string::npos) {
      auto raw = logfmt::unbase64(std::string_view(text).substr(p2 + 1));
      if (raw && raw->size() == 33 && (*raw)[0] == 0x01) {
        std::copy(raw->begin() + 1, raw->end(), k.pk.begin());
        k.name = text.substr(0, p1);
        if (log_verifier_key(*k.name, k.pk) != text)
          return make_error(Errc::invalid_argument, "the verifier key given is inconsistent (its key id does not "
                                                    "match its name and key); copy it again from its source");
        return k;
      }
    }
  }
  if (auto raw = logfmt::unbase64(text); raw && raw->size() == 32) {
    std::copy(raw->begin(), raw->end(), k.pk.begin());
    return k;
  }
  return make_error(Errc::invalid_argument,
                    "cannot read the key given: use the access log's verifier key (name+id+base64), 64 hex digits, "
                    "base64 of the 32-byte Ed25519 key, or a PEM public key file");
}

std::optional<std::string> read_text(const fs::path& p) {
  auto r = logfmt::read_file(p);
  if (!r.ok()) return std::nullopt;
  return std::string(r->begin(), r->end());
}

struct FileHash {
  std::uint64_t size = 0;
  std::string sha256_hex;
};

// SHA-256 of a file, streamed (a recording can be large); nullopt if it cannot be read.
std::optional<FileHash> hash_file(const fs::path& p) {
  auto fd = open_file(p, O_RDONLY | O_CLOEXEC);
  if (!fd.ok()) return std::nullopt;
  auto h = Sha256::create();
  if (!h.ok()) return std::nullopt;
  std::vector<unsigned char> buf(1 << 20);
  FileHash out;
  for (;;) {
    auto n = read_full(fd->get(), buf, "cannot read " + p.string());
    if (!n.ok()) return std::nullopt;
    if (*n == 0) break;
    h->update(std::span(buf.data(), *n));
    out.size += *n;
  }
  auto d = h->finish();
  if (!d.ok()) return std::nullopt;
  out.sha256_hex = to_hex(*d);
  return out;
}

class Checker {
 public:
  Checker(fs::path dir, ExportCheck& ck) : dir_(std::move(dir)), ck_(ck) {}

  void problem(std::string what) { ck_.problems.push_back(std::move(what)); }

  // A bundle file's hash, computed once; a missing file is reported once.
  const FileHash* file(const std::string& name) {
    if (auto it = hashes_.find(name); it != hashes_.end()) return it->second ? &*it->second : nullptr;
    std::optional<FileHash> h;
    std::error_code ec;
    if (fs::is_regular_file(fs::symlink_status(dir_ / name, ec))) h = hash_file(dir_ / name);
    if (!h) problem(name + " is missing from the bundle (or cannot be read)");
    auto [it, _] = hashes_.emplace(name, std::move(h));
    return it->second ? &*it->second : nullptr;
  }
  std::optional<std::string> text(const std::string& name) {
    if (!file(name)) return std::nullopt;
    return read_text(dir_ / name);
  }

  // manifest.json fields by JSON pointer; a missing or mistyped field is a problem.
  std::string str(const json& j, const std::string& ptr) {
    const json::json_pointer p(ptr);
    if (j.contains(p) && j.at(p).is_string()) return j.at(p).get<std::string>();
    problem("manifest.json: field " + ptr + " is missing or not a string");
    return {};
  }
  std::int64_t num(const json& j, const std::string& ptr) {
    const json::json_pointer p(ptr);
    if (j.contains(p) && j.at(p).is_number_integer()) return j.at(p).get<std::int64_t>();
    problem("manifest.json: field " + ptr + " is missing or not an integer");
    return 0;
  }
  std::uint64_t unum(const json& j, const std::string& ptr) {
    const json::json_pointer p(ptr);
    if (j.contains(p) && j.at(p).is_number_unsigned()) return j.at(p).get<std::uint64_t>();
    problem("manifest.json: field " + ptr + " is missing or not a non-negative integer");
    return 0;
  }
  const json& arr(const json& j, const std::string& ptr) {
    static const json empty = json::array();
    const json::json_pointer p(ptr);
    if (j.contains(p) && j.at(p).is_array()) return j.at(p);
    problem("manifest.json: field " + ptr + " is missing or not an array");
    return empty;
  }

 private:
  fs::path dir_;
  ExportCheck& ck_;
  std::map<std::string, std::optional<FileHash>> hashes_;
};

bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// Recordings (FORMAT.md §5.1, §5.3): duration, interruption and the bookmarks are signed too.
template <class Differs>
void check_recording_fields(Checker& c, const json& j, const Manifest& manifest, const Differs& differs) {
  const Manifest* m = &manifest;
  differs("item.duration_ms", std::to_string(c.num(j, "/item/duration_ms")), std::to_string(m->duration_ms));
  const json::json_pointer ip("/item/interrupted");
  const bool interrupted = j.contains(ip) && j.at(ip).is_boolean() && j.at(ip).get<bool>();
  differs("item.interrupted", interrupted ? "true" : "false", m->interrupted ? "true" : "false");
  differs("item.interrupted_unix", std::to_string(c.num(j, "/item/interrupted_unix")),
          std::to_string(m->interrupted_unix));
  std::vector<StoredBookmark> marks;
  const json& jmarks = c.arr(j, "/item/bookmarks");
  for (std::size_t i = 0; i < jmarks.size(); ++i) {
    const std::string at = "/item/bookmarks/" + std::to_string(i);
    auto sealed = logfmt::unbase64(c.str(j, at + "/label_sealed_base64"));
    if (!sealed) {
      c.problem("manifest.json: " + at + "/label_sealed_base64 is not valid base64");
      return;
    }
    marks.push_back(StoredBookmark{c.num(j, at + "/seq"), c.num(j, at + "/offset_ms"),
                                   c.num(j, at + "/created_unix"), std::move(*sealed)});
  }
  if (bookmarks_digest(marks) != m->bookmarks_sha256)
    c.problem("manifest.json item.bookmarks differ from the bookmarks the item manifest signs (a bookmark was "
              "added, removed, reordered or moved)");
}


// The item manifest signed at ingest (FORMAT.md §5) against manifest.json's readable fields.
void check_item_manifest(Checker& c, const json& j, const Key32& pk, ExportCheck& ck, int bundle_version) {
  const auto mb = logfmt::unbase64(c.str(j, "/item_manifest/manifest_base64"));
  const auto sb = logfmt::unbase64(c.str(j, "/item_manifest/signature_base64"));
  if (!mb || !sb) {
    c.problem("manifest.json: item_manifest.manifest_base64 or signature_base64 is not valid base64");
    return;
  }
  const std::string mb_str(mb->begin(), mb->end()), sb_str(sb->begin(), sb->end());
  if (auto bin = c.text(exportfmt::kManifestBin); bin && *bin != mb_str)
    c.problem(std::string(exportfmt::kManifestBin) + " differs from item_manifest.manifest_base64 in manifest.json");
  if (auto sig = c.text(exportfmt::kManifestSig); sig && *sig != sb_str)
    c.problem(std::string(exportfmt::kManifestSig) + " differs from item_manifest.signature_base64 in manifest.json");
  if (sb->size() != crypto_sign_BYTES ||
      crypto_sign_verify_detached(sb->data(), mb->data(), mb->size(), pk.data()) != 0) {
    c.problem("the appliance's signature over the item manifest (manifest.sig over manifest.bin) does not verify "
              "under the appliance key: the signed manifest was altered or signed by another key");
  }
  auto m = exportfmt::decode_manifest(*mb);
  if (!m.ok()) {
    c.problem(m.error().message);
    return;
  }
  auto differs = [&](const std::string& field, const std::string& readable, const std::string& signed_value) {
    if (readable != signed_value)
      c.problem("manifest.json " + field + " (" + readable + ") differs from the signed item manifest (" +
                signed_value + ")");
  };
  differs("item.id", ck.item_id, to_hex(m->item_id));
  differs("case.id", c.str(j, "/case/id"), to_hex(m->case_id));
  differs("item.kind", ck.kind, to_string(m->kind));
  differs("item.size", std::to_string(ck.size), std::to_string(m->size));
  differs("item.sha256", ck.sha256_hex, to_hex(m->sha256));
  differs("item.created_unix", std::to_string(c.num(j, "/item/created_unix")), std::to_string(m->created_unix));
  differs("item.creator", c.str(j, "/item/creator"), m->creator);
  if (bundle_version == 1) {
    // A bundle made before manifest v3 (EXPORT-FORMAT.md §5.1): v1 documents, v2 recordings.
    if (m->version == 3) {
      c.problem("the signed item manifest is version 3, but a bundle of format 1 carries version 1 or 2");
      return;
    }
    differs("item_manifest.encoding", c.str(j, "/item_manifest/encoding"),
            m->version == 2 ? "tillid.manifest.v2" : "tillid.manifest.v1");
    ck.warnings.push_back("bundle format 1 (made before manifest v3): the case number, municipality, title, file "
                          "name and interviewer are vouched for only by manifest.json.sig, not by the item's own "
                          "signature");
    if (m->version == 2) check_recording_fields(c, j, *m, differs);
    return;
  }
  if (m->version != kManifestVersion) {
    c.problem("the signed item manifest is version " + std::to_string(m->version) + ", not " +
              std::to_string(kManifestVersion) + ": a bundle of format 2 carries a v3 manifest (FORMAT.md §5.1)");
    return;
  }
  differs("item_manifest.encoding", c.str(j, "/item_manifest/encoding"), "tillid.manifest.v3");
  // Manifest v3 (FORMAT.md §5.1) signs the case's clear fields: a relabelled case fails here.
  differs("case.case_number", ck.case_number, m->case_number);
  differs("case.municipality", c.str(j, "/case/municipality"), m->municipality);
  // The sealed title, file name and interviewer: the bundle carries their ciphertext so the
  // digests the manifest signs can be recomputed; the readable values are bound by
  // manifest.json.sig, made by the appliance after it opened exactly that ciphertext.
  auto sealed_matches = [&](const std::string& field, const Digest32& signed_digest) {
    auto sealed = logfmt::unbase64(c.str(j, "/item/" + field + "_sealed_base64"));
    if (!sealed) c.problem("manifest.json: item." + field + "_sealed_base64 is not valid base64");
    else if (sealed_digest(*sealed) != signed_digest)
      c.problem("manifest.json item." + field + "_sealed_base64 is not the sealed " + field +
                " the item manifest signs (the " + field + " was changed)");
  };
  sealed_matches("title", m->title_sealed_sha256);
  sealed_matches("file_name", m->file_name_sealed_sha256);
  const bool json_interviewer = j.contains(json::json_pointer("/item/interviewer_sealed_base64")) ||
                                j.contains(json::json_pointer("/item/interviewer"));
  if (m->has_interviewer) sealed_matches("interviewer", m->interviewer_sealed_sha256);
  else if (json_interviewer)
    c.problem("manifest.json names an interviewer, but the signed item manifest says the item has none");
  if (m->kind != ItemKind::recording) {
    if (m->duration_ms != 0 || m->interrupted || m->interrupted_unix != 0)
      c.problem("the signed item manifest of a document carries recording fields");
    return;
  }
  check_recording_fields(c, j, *m, differs);
}

// The access-log section: checkpoint signature, each entry's encoding, fields and RFC 9162
// inclusion proof (LOG-FORMAT.md §4, §5).
void check_access_log(Checker& c, const json& j, const Key32& pk, ExportCheck& ck,
                      std::int64_t exported_unix) {
  const std::string note = c.str(j, "/access_log/checkpoint");
  const std::string origin = c.str(j, "/access_log/origin");
  if (auto file = c.text(exportfmt::kCheckpoint); file && *file != note)
    c.problem(std::string(exportfmt::kCheckpoint) + " differs from access_log.checkpoint in manifest.json");
  // The checkpoint's key name is its origin (first line of the note).
  const std::string note_origin = note.substr(0, note.find('\n'));
  if (note_origin != origin)
    c.problem("access_log.origin (" + origin + ") is not the checkpoint's origin (" + note_origin + ")");
  const std::string verifier = log_verifier_key(note_origin, pk);
  if (c.str(j, "/appliance/verifier_key") != verifier)
    c.problem("appliance.verifier_key in manifest.json does not belong to the appliance key and log origin");
  auto cp = open_checkpoint(note, verifier);
  if (!cp.ok()) {
    c.problem("the access-log checkpoint does not verify under the appliance key (forged or altered): " +
              cp.error().message);
    return;
  }
  ck.checkpoint_size = cp->size;
  if (c.unum(j, "/access_log/tree_size") != cp->size)
    c.problem("access_log.tree_size differs from the signed checkpoint's tree size " + std::to_string(cp->size));

  const json& entries = c.arr(j, "/access_log/entries");
  bool export_entry = false;
  std::optional<std::uint64_t> prev;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string at = "/access_log/entries/" + std::to_string(i);
    const std::uint64_t seq = c.unum(j, at + "/seq");
    const std::string label = "access-log entry " + std::to_string(seq);
    if (prev && seq <= *prev) c.problem(label + ": entries are not in increasing order of seq (duplicated or reordered)");
    prev = seq;
    auto bytes = logfmt::unbase64(c.str(j, at + "/entry_base64"));
    if (!bytes) {
      c.problem(label + ": entry_base64 is not valid base64");
      continue;
    }
    auto e = decode_log_entry(*bytes);
    if (!e.ok()) {
      c.problem(label + ": the entry bytes are malformed: " + e.error().message);
      continue;
    }
    // The readable fields must say what the proven bytes say.
    auto field = [&](const char* name, const std::string& readable, const std::string& proven) {
      if (readable != proven)
        c.problem(label + ": field " + name + " (" + readable + ") differs from the proven entry bytes (" + proven + ")");
    };
    field("seq", std::to_string(seq), std::to_string(e->seq));
    field("time_unix_ms", std::to_string(c.num(j, at + "/time_unix_ms")), std::to_string(e->time_unix_ms));
    field("action", c.str(j, at + "/action"), to_string(e->action));
    field("action_code", std::to_string(c.unum(j, at + "/action_code")),
          std::to_string(static_cast<unsigned>(e->action)));
    field("outcome", c.str(j, at + "/outcome"), std::string(to_string(e->outcome)));
    field("actor_id", c.str(j, at + "/actor_id"), e->actor_id);
    field("actor_role", c.str(j, at + "/actor_role"), e->actor_role);
    field("case_id", c.str(j, at + "/case_id"), e->case_id);
    field("item_id", c.str(j, at + "/item_id"), e->item_id);
    field("details", c.str(j, at + "/details"), e->details);
    if (e->item_id != ck.item_id)
      c.problem(label + " is about item '" + e->item_id + "', not the exported item " + ck.item_id);

    // RFC 9162 §2.1.3.2: recompute the root from the leaf hash and the audit path.
    const std::uint64_t tree_size = c.unum(j, at + "/inclusion_proof/tree_size");
    std::vector<LogHash> path;
    bool path_ok = true;
    for (const auto& h : c.arr(j, at + "/inclusion_proof/path")) {
      auto raw = h.is_string() ? logfmt::unbase64(h.get<std::string>()) : std::nullopt;
      if (!raw || raw->size() != 32) { path_ok = false; break; }
      LogHash lh{};
      std::copy(raw->begin(), raw->end(), lh.begin());
      path.push_back(lh);
    }
    if (tree_size != cp->size)
      c.problem(label + ": its inclusion proof is for tree size " + std::to_string(tree_size) +
                ", not the checkpoint's " + std::to_string(cp->size));
    else if (!path_ok || !verify_inclusion(log_leaf_hash(*bytes), e->seq, cp->size, path, cp->root))
      c.problem(label + ": its inclusion proof does not lead to the signed checkpoint's root (the entry or the "
                        "proof was altered)");
    if (e->action == LogAction::export_made && e->outcome == LogOutcome::ok) {
      export_entry = true;
      if (e->time_unix_ms / 1000 != exported_unix)
        c.problem(label + ": the export entry's time differs from exported_unix in manifest.json");
    }
    ++ck.log_entries;
  }
  if (!export_entry)
    c.problem("the access-log entries include no successful export_made entry: the export itself is not proven");
}

}  // namespace

Result<ExportCheck> verify_export(const fs::path& dir, std::optional<std::string> verifier_key) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return make_error(Errc::not_found, dir.string() + " is not a directory; give the export bundle's directory");
  std::optional<PinnedKey> pinned;
  if (verifier_key) {
    TILLID_ASSIGN(PinnedKey k, parse_pinned_key(*verifier_key));
    pinned = k;
  }
  ExportCheck ck;
  Checker c(dir, ck);

  const auto json_text = c.text(exportfmt::kManifestJson);
  if (!json_text) return ck;
  const json j = json::parse(*json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    c.problem("manifest.json is not valid JSON");
    return ck;
  }
  const std::int64_t bundle_version = c.num(j, "/version");
  if (c.str(j, "/format") != exportfmt::kFormatName || (bundle_version != 1 && bundle_version != exportfmt::kFormatVersion)) {
    c.problem("manifest.json is not a tillid-export bundle of version 1 or 2 (the versions this program reads)");
    return ck;
  }
  ck.item_id = c.str(j, "/item/id");
  ck.kind = c.str(j, "/item/kind");
  ck.case_number = c.str(j, "/case/case_number");
  ck.municipality = c.str(j, "/case/municipality");
  ck.content_file = c.str(j, "/item/content_file");
  ck.size = c.unum(j, "/item/size");
  ck.sha256_hex = c.str(j, "/item/sha256");
  const std::int64_t exported_unix = c.num(j, "/exported_unix");
  if (!ck.problems.empty()) return ck;  // too broken to check further

  // 1. The appliance key: manifest.json, appliance.pem and (if given) the court's own copy.
  ck.public_key_hex = c.str(j, "/appliance/public_key_hex");
  const auto pk_bytes = exportfmt::unhex(ck.public_key_hex);
  if (!pk_bytes || pk_bytes->size() != 32) {
    c.problem("manifest.json: appliance.public_key_hex is not a 32-byte key in hex");
    return ck;
  }
  Key32 pk{};
  std::copy(pk_bytes->begin(), pk_bytes->end(), pk.begin());
  if (c.str(j, "/appliance/public_key_base64") != logfmt::base64(pk))
    c.problem("manifest.json: appliance.public_key_base64 is not the same key as public_key_hex");
  if (auto pem = c.text(exportfmt::kAppliancePem)) {
    auto pem_key = exportfmt::parse_ed25519_pem(*pem);
    if (!pem_key) c.problem("appliance.pem is not an Ed25519 public key");
    else if (*pem_key != pk) c.problem("appliance.pem holds a different key than manifest.json (public_key_hex)");
  }
  if (pinned) {
    if (pinned->pk != pk) {
      c.problem("the bundle's appliance key " + ck.public_key_hex + " is not the key you gave (" +
                to_hex(pinned->pk) + "): this bundle was not signed by that appliance");
    } else if (pinned->name && *pinned->name != c.str(j, "/access_log/origin")) {
      c.problem("the verifier key you gave names the log '" + *pinned->name + "', but the bundle's log is '" +
                c.str(j, "/access_log/origin") + "'");
    } else {
      ck.key_pinned = true;
    }
  } else {
    ck.warnings.push_back("the appliance key is only asserted by the bundle itself; to rule out a forged bundle, "
                          "check again with --key and the key obtained from the centre or the auditor (" +
                          ck.public_key_hex + ")");
  }

  // 2. manifest.json as a whole, signed by the appliance (manifest.json.sig).
  if (c.file(exportfmt::kManifestJsonSig)) {
    const auto sig = read_text(dir / exportfmt::kManifestJsonSig).value_or("");
    if (sig.size() != crypto_sign_BYTES ||
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                    reinterpret_cast<const unsigned char*>(json_text->data()), json_text->size(),
                                    pk.data()) != 0)
      c.problem("manifest.json.sig: the appliance's signature over manifest.json does not verify (manifest.json "
                "was altered, or signed by another key)");
  }

  // 3. The content file against the manifest's size and SHA-256.
  if (!plain_name(ck.content_file) || exportfmt::is_reserved_name(ck.content_file)) {
    c.problem("manifest.json: item.content_file '" + ck.content_file + "' is not a plain file name in the bundle");
  } else if (const FileHash* h = c.file(ck.content_file)) {
    if (h->size != ck.size)
      c.problem(ck.content_file + ": size is " + std::to_string(h->size) + " bytes but manifest.json says " +
                std::to_string(ck.size) + " (the content was altered)");
    if (h->sha256_hex != ck.sha256_hex)
      c.problem(ck.content_file + ": SHA-256 is " + h->sha256_hex + " but manifest.json says " + ck.sha256_hex +
                " (the content was altered)");
  }

  // 4. The signed item manifest against manifest.json.
  check_item_manifest(c, j, pk, ck, bundle_version);

  // 5. The file list in manifest.json and SHA256SUMS (what `sha256sum -c` checks).
  std::set<std::string> listed;
  for (const auto& f : c.arr(j, "/files")) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("sha256") ||
        !f["sha256"].is_string()) {
      c.problem("manifest.json: an entry of files is malformed");
      continue;
    }
    const std::string name = f["name"].get<std::string>();
    if (!plain_name(name)) { c.problem("manifest.json: files names '" + name + "', not a plain file name"); continue; }
    listed.insert(name);
    if (const FileHash* h = c.file(name); h && h->sha256_hex != f["sha256"].get<std::string>())
      c.problem(name + " was altered: its SHA-256 differs from the one in manifest.json");
  }
  std::vector<std::string> required{ck.content_file, exportfmt::kManifestBin, exportfmt::kManifestSig,
                                    exportfmt::kAppliancePem, exportfmt::kCheckpoint, exportfmt::kReadme};
  const std::set<std::string> required_set(required.begin(), required.end());
  for (const auto& name : required)
    if (!listed.count(name)) c.problem("manifest.json: files does not list " + name);
  // EXPORT-FORMAT.md §5.6: the lists name exactly the bundle's files, no more.
  for (const auto& name : listed)
    if (!required_set.count(name)) c.problem("manifest.json: files lists " + name + ", which is not part of a bundle");
  if (auto sums = c.text(exportfmt::kSums)) {
    std::set<std::string> in_sums;
    std::size_t pos = 0;
    while (pos < sums->size()) {
      const auto nl = sums->find('\n', pos);
      const std::string line = sums->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      pos = nl == std::string::npos ? sums->size() : nl + 1;
      // sha256sum's format: 64 hex digits, a space, ' ' (text) or '*' (binary), the name.
      if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
        c.problem("SHA256SUMS has a malformed line: " + line.substr(0, 80));
        continue;
      }
      const std::string name = line.substr(66);
      if (!plain_name(name)) { c.problem("SHA256SUMS names '" + name + "', not a plain file name"); continue; }
      in_sums.insert(name);
      if (const FileHash* h = c.file(name); h && h->sha256_hex != line.substr(0, 64))
        c.problem(name + ": its SHA-256 differs from SHA256SUMS (the file was altered)");
    }
    auto in_bundle = required_set;
    in_bundle.insert(exportfmt::kManifestJson);
    in_bundle.insert(exportfmt::kManifestJsonSig);
    for (const auto& name : in_bundle)
      if (!in_sums.count(name)) c.problem("SHA256SUMS does not list " + name);
    for (const auto& name : in_sums)
      if (!in_bundle.count(name)) c.problem("SHA256SUMS lists " + name + ", which is not part of a bundle");
  }
  // The directory holds exactly those files and SHA256SUMS: anything else (a planted file, a
  // directory, a link) is reported, so a bundle cannot carry unverified extras (§5.6).
  {
    std::set<std::string> expected(required_set);
    expected.insert({exportfmt::kManifestJson, exportfmt::kManifestJsonSig, exportfmt::kSums});
    std::error_code dec;
    for (auto it = fs::directory_iterator(dir, dec); !dec && it != fs::directory_iterator(); it.increment(dec)) {
      const std::string name = it->path().filename().string();
      if (!expected.count(name)) c.problem(name + " is in the bundle directory but is not part of the bundle "
                                                  "(EXPORT-FORMAT.md §5.6: a bundle holds exactly its listed files)");
    }
    if (dec) c.problem("cannot list the bundle directory: " + dec.message());
  }

  // 6. The access-log entries and their proofs.
  check_access_log(c, j, pk, ck, exported_unix);
  return ck;
}

}  // namespace tillid
