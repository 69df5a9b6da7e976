// Reading identifying values from a JSON document or a no-echo prompt: see identifying_input.hpp.
#include "identifying_input.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "output.hpp"
#include "passphrase.hpp"
#include "tillid/secret.hpp"

namespace tillid::cli {
namespace {

// Far more than a name, a CPR number and notes need; a bound so a wrong file is refused fast.
constexpr std::size_t kMaxFieldsDocument = 64 * 1024;

std::string member_list(const std::vector<FieldSpec>& specs) {
  std::string s;
  for (const auto& f : specs) s += (s.empty() ? "" : ", ") + std::string("\"") + f.key + "\"";
  return s;
}

std::string how_to(const std::vector<FieldSpec>& specs) {
  return "pass --fields FILE, or --fields - for standard input, holding a JSON object with " +
         member_list(specs) + " (strings)";
}

// The whole document into sodium memory: it holds the identifying values in the clear.
Result<Secret> read_document(int fd, const std::string& what) {
  Secret buf(kMaxFieldsDocument + 1);
  std::size_t len = 0;
  while (len < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(Errc::io, "cannot read the fields from " + what + ": " + std::strerror(errno));
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  if (len > kMaxFieldsDocument)
    return make_error(Errc::invalid_argument, "the fields in " + what + " are longer than 64 KiB");
  return Secret::copy_of(buf.bytes().first(len));
}

Result<Fields> from_document(const std::string& source, const std::vector<FieldSpec>& specs) {
  const bool from_stdin = source == "-";
  const std::string what = from_stdin ? std::string("standard input") : "fields file " + source;
  Result<Secret> doc = make_error(Errc::internal, "");
  if (from_stdin) {
    doc = read_document(STDIN_FILENO, what);
  } else {
    int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(Errc::not_found, "cannot open " + what + ": " + std::strerror(errno));
    doc = read_document(fd, what);
    ::close(fd);
  }
  if (!doc) return doc.error();
  const unsigned char* p = doc->data();
  nlohmann::json j = nlohmann::json::parse(p, p + doc->size(), nullptr, false);
  struct JsonWipe {
    nlohmann::json& j;
    ~JsonWipe() { wipe_json(j); }
  } wipe_later{j};
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::invalid_argument, what + " is not a JSON object: " + how_to(specs));
  Fields fields;
  for (auto& [key, value] : j.items()) {
    const FieldSpec* spec = nullptr;
    for (const auto& f : specs)
      if (f.key == key) spec = &f;
    // The key is ours to print only if it is printable ASCII; a value never is printed.
    bool plain = !key.empty() && key.size() <= 40;
    for (char c : key) plain = plain && c > 0x20 && c < 0x7f;
    if (spec == nullptr)
      return make_error(Errc::invalid_argument, what + " has an unknown member" + (plain ? " \"" + key + "\"" : "") +
                                                    ": expected only " + member_list(specs));
    if (!value.is_string())
      return make_error(Errc::invalid_argument, "\"" + key + "\" in " + what + " must be a string");
    fields[key] = value.get<std::string>();
  }
  for (const auto& f : specs)
    if (f.required && fields[f.key].empty())
      return make_error(Errc::invalid_argument, what + " gives no \"" + f.key + "\" (" + f.prompt + "), which is required");
  return fields;
}

Result<Fields> from_terminal(const std::vector<FieldSpec>& specs) {
  Fields fields;
  for (const auto& f : specs) {
    const std::string prompt = f.prompt + (f.required ? "" : " (optional, Enter to leave out)") + " [not shown]";
    TILLID_ASSIGN(Secret line, ask_without_echo(prompt));
    if (line.empty() && f.required) return make_error(Errc::invalid_argument, f.prompt + " is required");
    fields[f.key].assign(reinterpret_cast<const char*>(line.data()), line.size());
  }
  return fields;
}

}  // namespace

Fields::~Fields() {
  for (auto& [key, value] : values_) wipe(value);
}

void add_fields_option(CLI::App* cmd, FieldsOption& opt, const std::vector<FieldSpec>& specs,
                       std::initializer_list<const char*> old_options) {
  cmd->add_option("--fields", opt.source,
                  "Read " + member_list(specs) + " from a JSON object in FILE, or - for standard input "
                  "(default: ask on the terminal without echo)")
      ->type_name("FILE|-");
  for (const char* name : old_options) {
    // Hidden (empty group): kept only to explain why it is refused.
    CLI::Option* o = cmd->add_option(name, opt.refused_values)->group("");
    opt.refused.emplace_back(o, name);
  }
}

Result<Fields> read_fields(FieldsOption& opt, const std::vector<FieldSpec>& specs) {
  for (const auto& [option, name] : opt.refused) {
    if (option->count() == 0) continue;
    for (auto& v : opt.refused_values) wipe(v);
    const std::string what = name[0] == '-' ? name : "a " + name + " argument";
    return make_error(Errc::invalid_argument,
                      what + " is no longer accepted: identifying values must not be on the command line, "
                      "where any local user can read them; answer the prompt on a terminal, or " + how_to(specs));
  }
  if (opt.source) return from_document(*opt.source, specs);
  if (have_terminal()) return from_terminal(specs);
  for (const auto& f : specs)
    if (f.required)
      return make_error(Errc::invalid_argument, "no terminal to ask for \"" + f.key + "\" on: " + how_to(specs));
  return Fields{};
}

}  // namespace tillid::cli
