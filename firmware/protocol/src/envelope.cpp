// The message envelope: hello, requests, replies, error codes, file headers and the table of
// ops with the streams each carries (CONTROL-PROTOCOL.md §3–§6).
#include <array>

#include "tillid/control.hpp"

namespace tillid::control {

namespace {

constexpr std::size_t kMaxOpName = 32;
constexpr std::size_t kMaxFileName = 255;

bool valid_op_name(std::string_view op) {
  if (op.empty() || op.size() > kMaxOpName) return false;
  for (char c : op)
    if (!((c >= 'a' && c <= 'z') || c == '.')) return false;
  return true;
}

// §8, the op table. Input/output shapes only; who may call what is firmware/AUTHZ.md.
constexpr std::array kOps{
    OpSpec{"status", Input::none, Output::none},
    OpSpec{"unlock", Input::none, Output::none},
    OpSpec{"lock", Input::none, Output::none},
    OpSpec{"key.add", Input::none, Output::none},
    OpSpec{"key.ls", Input::none, Output::none},
    OpSpec{"key.remove", Input::none, Output::none},
    OpSpec{"user.add", Input::none, Output::none},
    OpSpec{"user.ls", Input::none, Output::none},
    OpSpec{"user.revoke", Input::none, Output::none},
    OpSpec{"case.add", Input::none, Output::none},
    OpSpec{"case.ls", Input::none, Output::none},
    OpSpec{"doc.add", Input::required, Output::none},
    OpSpec{"ls", Input::none, Output::none},
    OpSpec{"get", Input::none, Output::data},
    OpSpec{"verify", Input::none, Output::none},
    OpSpec{"export", Input::none, Output::files},
    OpSpec{"record.start", Input::optional, Output::none},
    OpSpec{"record.status", Input::none, Output::none},
    OpSpec{"record.mark", Input::none, Output::none},
    OpSpec{"record.stop", Input::none, Output::none},
    OpSpec{"record.show", Input::none, Output::none},
    OpSpec{"audit.key", Input::none, Output::none},
    OpSpec{"audit.checkpoint", Input::none, Output::none},
    OpSpec{"audit.log", Input::none, Output::files},
};

constexpr std::array kErrcs{Errc::invalid_argument, Errc::not_found, Errc::already_exists, Errc::not_a_vault,
                            Errc::locked,           Errc::wrong_passphrase, Errc::last_key_slot, Errc::io,
                            Errc::no_space,         Errc::corrupt,   Errc::unsupported,    Errc::denied,
                            Errc::internal};

Error malformed_reply(const std::string& what) {
  return make_error(Errc::corrupt, "malformed reply from tillidd: " + what);
}

}  // namespace

nlohmann::json make_hello(std::string_view daemon_version) {
  return {{"protocol", kProtocolName}, {"version", kVersion}, {"daemon", daemon_version}};
}

Result<Hello> parse_hello(const nlohmann::json& hello) {
  if (!hello.is_object()) return malformed_reply("the greeting is not a JSON object");
  const auto p = hello.find("protocol");
  if (p == hello.end() || !p->is_string() || p->get_ref<const std::string&>() != kProtocolName)
    return make_error(Errc::unsupported, "the socket does not speak the tillid control protocol");
  const auto v = hello.find("version");
  if (v == hello.end() || !v->is_number_integer()) return malformed_reply("the greeting has no version");
  const auto d = hello.find("daemon");
  if (d == hello.end() || !d->is_string()) return malformed_reply("the greeting has no daemon version");
  const auto version = v->get<std::int64_t>();
  if (version != kVersion)
    return make_error(Errc::unsupported, "tillidd speaks control protocol version " + std::to_string(version) +
                                             ", this tillid speaks version " + std::to_string(kVersion) +
                                             ": install matching versions");
  return Hello{kVersion, d->get<std::string>()};
}

nlohmann::json make_request(std::string_view op, const nlohmann::json& args) {
  return {{"v", kVersion}, {"op", op}, {"args", args.is_null() ? nlohmann::json::object() : args}};
}

Result<Request> parse_request(const nlohmann::json& message) {
  if (!message.is_object()) return make_error(Errc::invalid_argument, "a request must be a JSON object");
  for (const auto& [key, value] : message.items()) {
    (void)value;
    if (key != "v" && key != "op" && key != "args")
      return make_error(Errc::invalid_argument, "a request has only the keys v, op and args");
  }
  const auto v = message.find("v");
  if (v == message.end() || !v->is_number_integer())
    return make_error(Errc::invalid_argument, "a request needs \"v\": 1");
  if (v->get<std::int64_t>() != kVersion)
    return make_error(Errc::unsupported, "this daemon speaks control protocol version 1 only");
  const auto op = message.find("op");
  if (op == message.end() || !op->is_string() || !valid_op_name(op->get_ref<const std::string&>()))
    return make_error(Errc::invalid_argument, "a request needs \"op\": a name of 1-32 letters a-z and dots");
  Request r;
  r.op = op->get<std::string>();
  const auto args = message.find("args");
  if (args == message.end()) {
    r.args = nlohmann::json::object();
  } else if (args->is_object()) {
    r.args = *args;
  } else {
    return make_error(Errc::invalid_argument, "a request's \"args\" must be a JSON object");
  }
  return r;
}

std::span<const OpSpec> ops() { return kOps; }

const OpSpec* find_op(std::string_view name) {
  for (const auto& op : kOps)
    if (op.name == name) return &op;
  return nullptr;
}

nlohmann::json reply_ok(nlohmann::json result) {
  return {{"ok", true}, {"result", std::move(result)}};
}

nlohmann::json reply_error(const Error& error) {
  return {{"ok", false}, {"error", {{"code", to_string(error.code)}, {"message", error.message}}}};
}

Result<nlohmann::json> parse_reply(const nlohmann::json& reply) {
  if (!reply.is_object()) return malformed_reply("not a JSON object");
  const auto ok = reply.find("ok");
  if (ok == reply.end() || !ok->is_boolean()) return malformed_reply("no \"ok\"");
  if (ok->get<bool>()) {
    const auto r = reply.find("result");
    if (r == reply.end()) return malformed_reply("no \"result\"");
    return *r;
  }
  const auto e = reply.find("error");
  if (e == reply.end() || !e->is_object()) return malformed_reply("no \"error\"");
  const auto code = e->find("code");
  const auto message = e->find("message");
  if (code == e->end() || !code->is_string() || message == e->end() || !message->is_string())
    return malformed_reply("an error without code and message");
  const auto errc = parse_errc(code->get_ref<const std::string&>());
  return Error{errc.value_or(Errc::internal), message->get<std::string>()};
}

std::optional<Errc> parse_errc(std::string_view name) {
  for (Errc e : kErrcs)
    if (name == to_string(e)) return e;
  return std::nullopt;
}

bool valid_file_name(std::string_view name) {
  // The client writes the file into its output directory under this name (§5.2): one path
  // component, nothing a terminal or a shell would misread.
  if (name.empty() || name.size() > kMaxFileName || name == "." || name == "..") return false;
  for (unsigned char c : name)
    if (c == '/' || c < 0x20 || c == 0x7f) return false;
  return true;
}

nlohmann::json make_file_header(const FileHeader& file) {
  return {{"file", file.name}, {"size", file.size}};
}

Result<FileHeader> parse_file_header(const nlohmann::json& header) {
  const auto f = header.find("file");
  const auto s = header.find("size");
  if (!header.is_object() || f == header.end() || !f->is_string() || s == header.end() ||
      !s->is_number_unsigned())
    return malformed_reply("a file header needs \"file\" and \"size\"");
  FileHeader h{f->get<std::string>(), s->get<std::uint64_t>()};
  if (!valid_file_name(h.name)) return malformed_reply("a file header names an unsafe file name");
  return h;
}

void wipe_json(nlohmann::json& j) {
  if (j.is_string()) {
    wipe(j.get_ref<std::string&>());
  } else if (j.is_object()) {
    // Keys are op-defined names, not data; only values are wiped.
    for (auto& v : j) wipe_json(v);
  } else if (j.is_array()) {
    for (auto& v : j) wipe_json(v);
  }
}

}  // namespace tillid::control
