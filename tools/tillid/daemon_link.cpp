// The client side of the control protocol: see daemon_link.hpp.
#include "daemon_link.hpp"

#include <cstdlib>

#include "output.hpp"
#include "passphrase.hpp"
#include "tillid/control.hpp"

namespace tillid::cli {

namespace fs = std::filesystem;

namespace {

// Hands the protocol's streamed replies to the command's handlers.
class Forward final : public control::Receiver {
 public:
  explicit Forward(Incoming& in) : in_(in) {}
  Result<void> on_file(const std::string& name, std::uint64_t size) override {
    if (!in_.on_file) return make_error(Errc::corrupt, "the daemon sent a file this request does not have");
    return in_.on_file(name, size);
  }
  Result<void> on_data(std::span<const unsigned char> bytes) override {
    if (!in_.on_data) return make_error(Errc::corrupt, "the daemon sent data this request does not have");
    return in_.on_data(bytes);
  }
  Result<void> on_end() override {
    if (!in_.on_end) return {};
    return in_.on_end();
  }

 private:
  Incoming& in_;
};

}  // namespace

struct DaemonLink::Impl {
  control::ControlClient client;
};

Result<fs::path> socket_path(const GlobalOptions& g) {
  if (g.socket) return *g.socket;
  if (g.vault.empty())
    return make_error(Errc::invalid_argument,
                      "no daemon given: pass --socket PATH (or set TILLID_SOCKET), or --vault DIR / TILLID_VAULT "
                      "for the daemon's default socket DIR/run/control.sock");
  return g.vault / "run" / "control.sock";
}

DaemonLink::DaemonLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DaemonLink::DaemonLink(DaemonLink&&) noexcept = default;
DaemonLink& DaemonLink::operator=(DaemonLink&&) noexcept = default;
DaemonLink::~DaemonLink() = default;

Result<DaemonLink> DaemonLink::connect(const GlobalOptions& g) {
  TILLID_ASSIGN(fs::path path, socket_path(g));
  auto client = control::ControlClient::connect(path);
  if (!client)
    return make_error(client.error().code, std::string(kUnreachable) + " (" + client.error().message +
                                               "); if it listens elsewhere, pass --socket PATH or set TILLID_SOCKET");
  DaemonLink link(std::make_unique<Impl>(Impl{std::move(client).value()}));
  link.g_ = &g;
  return link;
}

Result<nlohmann::json> DaemonLink::call_once(std::string_view op, const nlohmann::json& args,
                                             const InputFactory* input, Incoming* output) {
  std::optional<Forward> forward;
  if (output) forward.emplace(*output);
  control::Receiver* receiver = forward ? &*forward : nullptr;
  if (!input) return impl_->client.call(op, args, nullptr, receiver);
  TILLID_ASSIGN(ByteSource source, (*input)());
  return impl_->client.call(op, args, &source, receiver);
}

Result<nlohmann::json> DaemonLink::call(std::string_view op, const nlohmann::json& args, const InputFactory* input,
                                        Incoming* output) {
  auto r = call_once(op, args, input, output);
  if (r.ok() || r.error().code != Errc::locked || !g_) return r;
  if (!g_->passphrase_file)
    return make_error(Errc::locked, r.error().message +
                                        "; unlock it first with `tillid unlock`, or pass --passphrase-file FILE "
                                        "(or set TILLID_PASSPHRASE_FILE) to unlock on the way");
  // A refusal during an upload closes the connection (CONTROL-PROTOCOL.md §5.1): unlock and
  // retry on a fresh one.
  TILLID_ASSIGN(DaemonLink fresh, connect(*g_));
  *this = std::move(fresh);
  TILLID_TRY(send_unlock(*this, *g_));
  return call_once(op, args, input, output);
}

Result<void> send_unlock(DaemonLink& link, const GlobalOptions& g) {
  std::string where = g.socket ? g.socket->string() : g.vault.string();
  TILLID_ASSIGN(Passphrase pass, obtain_passphrase(g.passphrase_file, "Passphrase to unlock " + where));
  // The passphrase travels in the request body only (never argv); the JSON copy is wiped.
  nlohmann::json args = {{"passphrase", std::string(reinterpret_cast<const char*>(pass.data()), pass.size())}};
  auto r = link.call_once("unlock", args);
  wipe_json(args);
  if (!r) return r.error();
  return {};
}

bool is_unreachable(const Error& error) { return error.message.rfind(kUnreachable, 0) == 0; }

int with_daemon(const GlobalOptions& g, const std::function<Result<int>(DaemonLink&)>& body) {
  auto link = DaemonLink::connect(g);
  if (!link) return fail(link.error());
  auto rc = body(*link);
  if (!rc) return fail(rc.error());
  return *rc;
}

}  // namespace tillid::cli
