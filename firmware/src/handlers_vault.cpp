// Handlers of the vault's ops: status, unlock and lock, key slots, users, cases, documents,
// listings, fetch, verify, export and the auditor's ops. What `tillid` did with an open Vault
// is done here with the daemon's one Vault, through the gate, for the calling user.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include <sodium.h>

#include "handlers.hpp"
#include "tillid/control_codec.hpp"
#include "tillid/export.hpp"

namespace tillid::daemon {
namespace {

using nlohmann::json;

Result<KdfCost> parse_kdf(const std::string& name) {
  if (name == "moderate" || name.empty()) return KdfCost::moderate();
  if (name == "interactive") return KdfCost::interactive();
  if (name == "minimum") return KdfCost::minimum();
  return make_error(Errc::invalid_argument, "unknown kdf: use moderate, interactive or minimum");
}

// A passphrase argument, moved into sodium memory; the JSON copy is wiped.
Result<Passphrase> arg_passphrase(json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || !it->is_string() || it->get_ref<std::string&>().empty())
    return make_error(Errc::invalid_argument, std::string("the argument '") + name + "' must be a non-empty string");
  std::string& text = it->get_ref<std::string&>();
  Passphrase p = passphrase_from(text);
  wipe(text);
  return p;
}

Result<json> op_status(Call& c) {
  const bool recording = c.d.desk.active();
  json rec = nullptr;
  if (recording) {
    if (auto st = c.d.desk.status()) rec = std::move(st).value();
  }
  bool unlocked = false;
  std::string key;
  c.d.gate.with(c.caller.actor, [&](Vault& v) {
    unlocked = v.is_unlocked();
    key = v.log_verifier_key();
  });
  // The vault id is the log's origin "tillid.local/<vault id>" (LOG-FORMAT.md), which the
  // verifier key "<origin>+<key id>+<key>" starts with.
  const std::string origin = key.substr(0, key.find('+'));
  const std::string vault_id = origin.substr(origin.rfind('/') + 1);
  json user = nullptr;
  if (c.caller.user) user = {{"name", c.caller.user->name}, {"role", std::string(to_string(c.caller.user->role))}};
  return json{{"locked", !unlocked}, {"version", c.d.version}, {"vault_id", vault_id}, {"user", user}, {"recording", rec}};
}

Result<json> op_unlock(Call& c) {
  TILLID_ASSIGN(Passphrase p, arg_passphrase(c.args, "passphrase"));
  TILLID_TRY(c.d.gate.with(c.caller.actor, [&](Vault& v) { return v.unlock(p); }));
  return json::object();
}

Result<json> op_lock(Call& c) {
  TILLID_TRY(c.d.gate.with(c.caller.actor, [](Vault& v) { return v.lock(); }));
  return json::object();
}

Result<json> op_key_add(Call& c) {
  TILLID_ASSIGN(std::string label, arg_string(c.args, "label"));
  TILLID_ASSIGN(std::string kdf, arg_string(c.args, "kdf", false));
  TILLID_ASSIGN(KdfCost cost, parse_kdf(kdf));
  TILLID_ASSIGN(Passphrase p, arg_passphrase(c.args, "passphrase"));
  TILLID_ASSIGN(int slot, c.d.gate.with(c.caller.actor, [&](Vault& v) { return v.add_key_slot(p, label, cost); }));
  return json{{"slot", slot}, {"label", label}};
}

Result<json> op_key_ls(Call& c) {
  TILLID_ASSIGN(auto slots, c.d.gate.with(c.caller.actor, [](Vault& v) { return v.key_slots(); }));
  json j = json::array();
  for (const auto& s : slots) j.push_back(control::to_json(s));
  return j;
}

Result<json> op_key_remove(Call& c) {
  TILLID_ASSIGN(std::int64_t slot, arg_int(c.args, "slot"));
  if (slot < 0 || slot > 1000000) return make_error(Errc::invalid_argument, "the argument 'slot' is out of range");
  TILLID_TRY(c.d.gate.with(c.caller.actor, [&](Vault& v) { return v.remove_key_slot(static_cast<int>(slot)); }));
  return json{{"removed", slot}};
}

Result<json> op_user_add(Call& c) {
  NewUser u;
  TILLID_ASSIGN(u.name, arg_string(c.args, "name"));
  TILLID_ASSIGN(std::string role, arg_string(c.args, "role"));
  auto r = parse_role(role);
  if (!r) return make_error(Errc::invalid_argument, "unknown role: use admin, staff, caseworker or auditor");
  u.role = *r;
  if (auto it = c.args.find("uid"); it != c.args.end() && !it->is_null()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 0xfffffffeULL)
      return make_error(Errc::invalid_argument, "the argument 'uid' must be a uid (0..4294967294)");
    u.uid = static_cast<unsigned>(it->get<std::uint64_t>());
  }
  TILLID_ASSIGN(u.municipality, arg_string(c.args, "municipality", false));
  TILLID_ASSIGN(User added, c.d.gate.roster_change(c.caller.actor, [&](Vault& v) { return v.add_user(u); }));
  return control::to_json(added);
}

Result<json> op_user_ls(Call& c) {
  TILLID_ASSIGN(auto users, c.d.gate.with(c.caller.actor, [](Vault& v) { return v.users(); }));
  json j = json::array();
  for (const auto& u : users) j.push_back(control::to_json(u));
  return j;
}

Result<json> op_user_revoke(Call& c) {
  TILLID_ASSIGN(std::string name, arg_string(c.args, "name"));
  TILLID_TRY(c.d.gate.roster_change(c.caller.actor, [&](Vault& v) { return v.revoke_user(name); }));
  return json::object();
}

Result<json> op_case_add(Call& c) {
  NewCase nc;
  WipeOnExit wipe_case{&nc.child_name, &nc.cpr, &nc.notes};
  TILLID_ASSIGN(nc.case_number, arg_string(c.args, "number"));
  TILLID_ASSIGN(nc.municipality, arg_string(c.args, "municipality"));
  TILLID_ASSIGN(nc.child_name, arg_string(c.args, "child_name", false));
  TILLID_ASSIGN(nc.cpr, arg_string(c.args, "cpr", false));
  TILLID_ASSIGN(nc.notes, arg_string(c.args, "notes", false));
  TILLID_ASSIGN(CaseInfo ci, c.d.gate.with(c.caller.actor, [&](Vault& v) { return v.add_case(nc); }));
  WipeOnExit wipe_reply{&ci.child_name, &ci.cpr, &ci.notes};
  return control::to_json(ci);
}

Result<json> op_case_ls(Call& c) {
  TILLID_ASSIGN(auto cases, c.d.gate.with(c.caller.actor, [](Vault& v) { return v.cases(); }));
  json j = json::array();
  for (auto& ci : cases) {
    j.push_back(control::to_json(ci));
    wipe(ci.child_name), wipe(ci.cpr), wipe(ci.notes);
  }
  return j;
}

Result<json> op_doc_add(Call& c) {
  TILLID_ASSIGN(std::string case_ref, arg_string(c.args, "case"));
  TILLID_ASSIGN(std::string title, arg_string(c.args, "title", false));
  TILLID_ASSIGN(std::string file_name, arg_string(c.args, "file_name"));
  WipeOnExit wipe_fields{&title, &file_name};
  if (title.empty()) title = file_name;
  ByteSource input = [&](std::span<unsigned char> buf) { return c.io.read_input(buf); };
  // The input is read inside the vault call (add_document streams it into the object), so a
  // client that stops sending holds the vault until the request deadline drops it.
  TILLID_ASSIGN(ItemInfo item, c.d.gate.with(c.caller.actor, [&](Vault& v) -> Result<ItemInfo> {
    TILLID_ASSIGN(CaseInfo ci, v.find_case(case_ref));
    WipeOnExit wipe_case{&ci.child_name, &ci.cpr, &ci.notes};
    return v.add_document(ci.id, input, title, file_name);
  }));
  WipeOnExit wipe_item{&item.title, &item.file_name};
  return control::to_json(item);
}

Result<json> op_ls(Call& c) {
  TILLID_ASSIGN(std::string case_ref, arg_string(c.args, "case", false));
  return c.d.gate.with(c.caller.actor, [&](Vault& v) -> Result<json> {
    std::map<std::string, std::string> numbers;  // case id → case number, as `tillid ls` shows
    TILLID_ASSIGN(auto cases, v.cases());
    for (auto& ci : cases) {
      numbers[ci.id] = ci.case_number + (ci.verified ? "" : " (UNVERIFIED)");
      wipe(ci.child_name), wipe(ci.cpr), wipe(ci.notes);
    }
    std::optional<std::string> filter;
    if (!case_ref.empty()) {
      TILLID_ASSIGN(CaseInfo ci, v.find_case(case_ref));
      WipeOnExit wipe_case{&ci.child_name, &ci.cpr, &ci.notes};
      filter = ci.id;
    }
    TILLID_ASSIGN(auto items, v.items(filter));
    json j = json::array();
    for (auto& it : items) {
      json row = control::to_json(it);
      row["case_number"] = numbers[it.case_id];
      j.push_back(std::move(row));
      wipe(it.title), wipe(it.file_name), wipe(it.interviewer);
    }
    return j;
  });
}

Result<json> op_get(Call& c) {
  TILLID_ASSIGN(std::string item_id, arg_string(c.args, "item"));
  ByteSink sink = [&](std::span<const unsigned char> bytes) { return c.io.send_data(bytes); };
  TILLID_ASSIGN(ItemInfo item, c.d.gate.with(c.caller.actor, [&](Vault& v) { return v.fetch(item_id, sink); }));
  WipeOnExit wipe_item{&item.title, &item.file_name, &item.interviewer};
  // The end frame only after fetch() authenticated the whole object: a client that sees end
  // knows every byte before it is the item's (CONTROL-PROTOCOL.md §5).
  TILLID_TRY(c.io.send_end());
  return control::to_json(item);
}

Result<json> op_verify(Call& c) {
  TILLID_ASSIGN(VerifyReport r, c.d.gate.with(c.caller.actor, [](Vault& v) { return v.verify(); }));
  return control::to_json(r);
}

// Removes a directory tree when the scope ends (the export's plaintext must not stay).
struct RemoveTree {
  std::filesystem::path dir;
  ~RemoveTree() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Streams a file opened earlier: exactly `size` bytes, under `name`.
Result<void> stream_fd(Exchange& io, int fd, const std::string& name, std::uint64_t size) {
  TILLID_TRY(io.send_file(name, size));
  SecureArray<unsigned char> buf(64 * 1024);
  std::uint64_t left = size;
  while (left > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    const ssize_t n = ::read(fd, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error(Errc::io, "cannot read " + name + " to send it");
    TILLID_TRY(io.send_data(std::span<const unsigned char>(buf.data(), static_cast<std::size_t>(n))));
    left -= static_cast<std::uint64_t>(n);
  }
  return io.send_end();
}

struct OpenFile {
  std::string name;
  int fd = -1;
  std::uint64_t size = 0;
  OpenFile(std::string n, int f, std::uint64_t s) : name(std::move(n)), fd(f), size(s) {}
  OpenFile(OpenFile&& o) noexcept : name(std::move(o.name)), fd(std::exchange(o.fd, -1)), size(o.size) {}
  OpenFile& operator=(OpenFile&&) = delete;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens every regular file of `dir` (sorted by name) and notes its size now: the files are
// then streamed from these descriptors, a consistent snapshot even if the log grows meanwhile.
Result<std::vector<OpenFile>> open_files(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) names.push_back(it->path().filename().string());
  }
  if (ec) return make_error(Errc::io, "cannot list the directory to send");
  std::sort(names.begin(), names.end());
  std::vector<OpenFile> files;
  for (const auto& n : names) {
    if (!control::valid_file_name(n)) continue;
    const int fd = ::open((dir / n).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return make_error(Errc::io, "cannot open " + n + " to send it");
    OpenFile f(n, fd, 0);
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return make_error(Errc::io, "cannot read " + n);
    f.size = static_cast<std::uint64_t>(st.st_size);
    files.push_back(std::move(f));
  }
  return files;
}

Result<json> op_export(Call& c) {
  TILLID_ASSIGN(std::string item_id, arg_string(c.args, "item"));
  // The bundle is written in a fresh 0700 directory the daemon owns (not the vault's tmp/,
  // whose start-up cleaning expects only files), streamed, and removed whatever happens.
  unsigned char rnd[12];
  randombytes_buf(rnd, sizeof rnd);
  const std::filesystem::path work = c.d.vault_dir / "run" / ("export-" + to_hex(rnd));
  if (::mkdir(work.parent_path().c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::io, "cannot make the daemon's working directory for the export");
  if (::mkdir(work.c_str(), 0700) != 0) return make_error(Errc::io, "cannot make a working directory for the export");
  RemoveTree cleanup{work};
  const std::filesystem::path bundle = work / "bundle";
  // The bundle proves its own export_made entry against a checkpoint signed right after it
  // (EXPORT-FORMAT.md), so for this one call checkpoints follow each entry again.
  TILLID_ASSIGN(ExportSummary s, c.d.gate.with(c.caller.actor, [&](Vault& v) {
    v.defer_checkpoints(false);
    auto made = v.export_item(item_id, bundle);
    v.defer_checkpoints(true);
    return made;
  }));
  WipeOnExit wipe_item{&s.item.title, &s.item.file_name, &s.item.interviewer};
  TILLID_ASSIGN(auto files, open_files(bundle));
  for (auto& f : files) TILLID_TRY(stream_fd(c.io, f.fd, f.name, f.size));
  s.dir.clear();  // a daemon-side path means nothing to the client, which names its own
  return control::to_json(s);
}

Result<json> op_audit_key(Call& c) {
  std::string key = c.d.gate.with(c.caller.actor, [](Vault& v) { return v.log_verifier_key(); });
  return json{{"verifier_key", key}};
}

Result<json> op_audit_checkpoint(Call& c) {
  TILLID_ASSIGN(std::string note, c.d.gate.with(c.caller.actor, [](Vault& v) { return v.latest_checkpoint(); }));
  return json{{"checkpoint", note}};
}

Result<json> op_audit_log(Call& c) {
  // Opened under the gate so no entry is half-appended between the files' sizes. Unlocked,
  // the pending entries (this request's own authz_decision among them) are signed first, so
  // the copy ends at a checkpoint and `tillid audit verify` on it can say OK (LOG-FORMAT.md
  // §3.5). Locked there is no key: the copy honestly ends with unsigned entries (exit 8).
  TILLID_ASSIGN(auto files, c.d.gate.with(c.caller.actor, [](Vault& v) -> Result<std::vector<OpenFile>> {
    if (v.is_unlocked()) TILLID_TRY(v.sign_pending_checkpoint());
    return open_files(v.log_dir());
  }));
  for (auto& f : files) TILLID_TRY(stream_fd(c.io, f.fd, f.name, f.size));
  return json{{"files", files.size()}};
}

}  // namespace

// Defined in handlers_record.cpp.
Result<json> op_record_start(Call& c);
Result<json> op_record_status(Call& c);
Result<json> op_record_mark(Call& c);
Result<json> op_record_stop(Call& c);
Result<json> op_record_show(Call& c);

Handler find_handler(std::string_view op) {
  static const std::map<std::string_view, Handler> kHandlers = {
      {"status", op_status},         {"unlock", op_unlock},
      {"lock", op_lock},             {"key.add", op_key_add},
      {"key.ls", op_key_ls},         {"key.remove", op_key_remove},
      {"user.add", op_user_add},     {"user.ls", op_user_ls},
      {"user.revoke", op_user_revoke}, {"case.add", op_case_add},
      {"case.ls", op_case_ls},       {"doc.add", op_doc_add},
      {"ls", op_ls},                 {"get", op_get},
      {"verify", op_verify},         {"export", op_export},
      {"record.start", op_record_start}, {"record.status", op_record_status},
      {"record.mark", op_record_mark}, {"record.stop", op_record_stop},
      {"record.show", op_record_show}, {"audit.key", op_audit_key},
      {"audit.checkpoint", op_audit_checkpoint}, {"audit.log", op_audit_log},
  };
  auto it = kHandlers.find(op);
  return it == kHandlers.end() ? nullptr : it->second;
}

}  // namespace tillid::daemon
