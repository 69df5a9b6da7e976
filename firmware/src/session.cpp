// One control connection (CONTROL-PROTOCOL.md §3–§5), served on its own worker thread.
//
// Why a thread per connection rather than Asio handlers on a pool: every request ends in a
// Vault call, and the vault serialises them anyway (one gate), so a pool would add no
// parallelism; what matters is that one client can never hold up another's socket. A worker
// blocks only on its own socket, always with a deadline (a stalled client is dropped when it
// passes, whoever else is waiting), and streams with natural backpressure: a data frame is
// written, or read, before the vault produces or takes the next block. Workers are bounded by
// control.max_clients; the io thread keeps accept, signals and timers responsive.
#include <sys/socket.h>
#include <sys/types.h>

#include <iostream>

#include "daemon_impl.hpp"
#include "tillid/authz.hpp"

namespace tillid::daemon {
namespace {

using nlohmann::json;

Result<unsigned> peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return make_error(Errc::io, "cannot read the peer's credentials");
  return static_cast<unsigned>(cred.uid);
}

Result<void> send_json(control::Connection& conn, const json& j, std::chrono::milliseconds timeout) {
  return conn.send_json(j, control::Clock::now() + timeout);
}

// A request that breaks the protocol: an error reply, a protocol_error entry (the reason is
// ours, never the peer's bytes), and the connection ends.
void protocol_error(Daemon::Impl& d, control::Connection& conn, const Actor& who, const Error& e) {
  (void)send_json(conn, control::reply_error(e), d.config.request_timeout);
  auto logged = d.gate.with(who, [&](Vault& v) {
    return v.log_event(LogAction::protocol_error, LogOutcome::refused, to_string(e.code));
  });
  if (!logged) std::cerr << "tillidd: cannot log a protocol error: " << logged.error().message << "\n";
}

// The log's actor for a peer: its enrolled user, else the bare uid with no role.
Actor actor_for(const std::optional<User>& user, unsigned uid) {
  if (user) return Actor{user->name, std::string(to_string(user->role))};
  return Actor{"uid:" + std::to_string(uid), "none"};
}

// Who the peer is now: looked up for every request, so a revocation takes effect at once.
Result<Caller> identify(Daemon::Impl& d, unsigned uid) {
  Caller c;
  c.uid = uid;
  TILLID_ASSIGN(c.user, d.gate.with(daemon_actor(), [&](Vault& v) { return v.user_by_uid(uid); }));
  c.actor = actor_for(c.user, uid);
  return c;
}

// The actor for a protocol_error entry: the enrolled user if the roster knows the uid.
Actor actor_of(Daemon::Impl& d, unsigned uid) {
  auto c = identify(d, uid);
  if (c) return c->actor;
  return actor_for(std::nullopt, uid);
}

bool takes_input(const control::OpSpec& spec, const json& args) {
  if (spec.input == control::Input::required) return true;
  if (spec.input == control::Input::optional) return args.contains("stream") && !args["stream"].is_null();
  return false;
}

// Serves one request; false when the connection must end afterwards.
bool serve_request(Daemon::Impl& d, control::Connection& conn, unsigned uid, control::Frame& frame) {
  const auto timeout = d.config.request_timeout;
  if (frame.kind != control::FrameKind::json) {
    protocol_error(d, conn, actor_of(d, uid), make_error(Errc::invalid_argument, "expected a request (a JSON frame)"));
    return false;
  }
  auto message = control::parse_json_object(frame.bytes());
  if (!message) {
    protocol_error(d, conn, actor_of(d, uid), message.error());
    return false;
  }
  struct WipeJson {
    json& j;
    ~WipeJson() { control::wipe_json(j); }
  } wipe_message{message.value()};
  auto request = control::parse_request(*message);
  if (!request) {
    protocol_error(d, conn, actor_of(d, uid), request.error());
    return false;
  }
  WipeJson wipe_args{request->args};
  const control::OpSpec* spec = control::find_op(request->op);
  const Handler handler = spec ? find_handler(request->op) : nullptr;
  if (!handler) {
    protocol_error(d, conn, actor_of(d, uid), make_error(Errc::unsupported, "unknown op"));
    return false;
  }
  const bool with_input = takes_input(*spec, request->args);
  if (d.stopping) {
    (void)send_json(conn, control::reply_error(make_error(Errc::io, "tillidd is stopping")), timeout);
    return false;
  }
  // The one place a request is authorised (firmware/AUTHZ.md), and every decision is logged
  // with the authenticated user. A decision that cannot be logged is not acted on. Who the
  // peer is, the decision and its entry happen in one roster turn: a revocation (or an
  // enrolment) waits for it, so the roster read and the entry cannot be separated by a change
  // of the roster. Not at the gate: the entry names its actor itself (log_event_as), so
  // concurrent requests' decisions share one fdatasync instead of queueing one by one; it is
  // durable before the handler runs.
  Caller who;
  who.uid = uid;
  authz::Decision decision;
  auto logged = d.gate.authorize([&](Vault& v) -> Result<void> {
    TILLID_ASSIGN(who.user, v.user_by_uid(uid));
    who.actor = actor_for(who.user, uid);
    decision = authz::authorize(who.user, request->op);
    return v.log_event_as(who.actor, LogAction::authz_decision,
                          decision.allowed ? LogOutcome::ok : LogOutcome::refused,
                          authz::log_details(request->op, decision));
  });
  const Caller* caller = &who;
  if (!logged) {
    (void)send_json(conn, control::reply_error(make_error(logged.error().code,
                                                          "the request could not be authorised and logged, so it was not run: " +
                                                              logged.error().message)),
                    timeout);
    return false;
  }
  if (!decision.allowed) {
    const std::string why = decision.reason.empty() ? "not allowed for your role" : decision.reason;
    (void)send_json(conn, control::reply_error(make_error(Errc::denied, request->op + ": " + why)), timeout);
    return !with_input;  // unread input would follow: the client closes after an early reply
  }

  Exchange io(conn, timeout);
  Call call{d.services, *caller, request->args, io};
  Result<json> result = make_error(Errc::internal, "no result");
  try {
    result = handler(call);
  } catch (const std::exception& e) {
    // A bug, not an expected outcome; never let it take the daemon down with the connection.
    std::cerr << "tillidd: internal error in " << request->op << ": " << e.what() << "\n";
    result = make_error(Errc::internal, "internal error in tillidd");
  }
  if (!result) {
    const auto sent = send_json(conn, control::reply_error(result.error()), timeout);
    return sent.ok() && (!with_input || io.input_complete());
  }
  json reply = control::reply_ok(std::move(result).value());
  const auto sent = send_json(conn, reply, timeout);
  control::wipe_json(reply);
  return sent.ok() && (!with_input || io.input_complete());
}

}  // namespace

void serve_connection(Daemon::Impl& d, SessionSlot& slot) {
  {
    control::Connection conn(slot.fd);
    // The fd number is released under the lock before the Connection closes it, so shut_down()
    // never shuts a number the kernel has since given to another file.
    struct Retire {
      Daemon::Impl& d;
      SessionSlot& slot;
      ~Retire() {
        std::lock_guard lk(d.sessions_mu);
        slot.fd = -1;
      }
    } retire{d, slot};
    auto uid = peer_uid(conn.fd());
    if (uid && send_json(conn, control::make_hello(kVersion), d.config.request_timeout)) {
      for (;;) {
        // CONTROL-PROTOCOL.md §4: a request must be complete within the deadline after the
        // hello or the previous reply; a client that sends nothing or half a frame is dropped.
        auto frame = conn.receive(control::Clock::now() + d.config.request_timeout);
        if (!frame) {
          if (frame.error().code == Errc::corrupt)
            protocol_error(d, conn, actor_of(d, *uid), frame.error());
          break;
        }
        if (!serve_request(d, conn, *uid, *frame)) break;
      }
    }
  }
  slot.done = true;
}

}  // namespace tillid::daemon
