// The control protocol between `tillid` (and any local program) and the daemon `tillidd`,
// version 1 (spec: firmware/CONTROL-PROTOCOL.md). Length-prefixed frames over a Unix stream
// socket; JSON requests and replies; data streams for document input, fetched content and
// export files. This header is the wire format and a blocking client; the daemon's server
// loop uses the decoder and encoders and is elsewhere (firmware/src).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tillid/result.hpp"
#include "tillid/secret.hpp"
#include "tillid/vault.hpp"

namespace tillid::control {

// CONTROL-PROTOCOL.md §2, §3.
inline constexpr int kVersion = 1;
inline constexpr std::string_view kProtocolName = "tillid-control";
inline constexpr std::size_t kMaxBody = 65536;                 // bytes after the kind byte
inline constexpr std::size_t kMaxFrameLength = kMaxBody + 1;   // the u32 length field's maximum
inline constexpr std::size_t kHeaderSize = 5;                  // u32 length + u8 kind
inline constexpr int kMaxJsonDepth = 32;                       // nesting of arrays/objects
// A reply longer than one frame travels as part frames + a final json frame (§2, §3); the
// client accepts up to this much. Requests always fit in one frame.
inline constexpr std::size_t kMaxReply = std::size_t{16} << 20;

// part: a non-final piece of a JSON message that does not fit in one frame (server → client).
enum class FrameKind : std::uint8_t { json = 1, data = 2, end = 3, file = 4, part = 5 };
std::string_view to_string(FrameKind kind);  // "json" | "data" | "end" | "file" | "part"

// One decoded frame. The body lives in sodium memory: requests carry passphrases and names,
// data frames carry evidence (issue 10, class 7).
struct Frame {
  FrameKind kind = FrameKind::end;
  Secret body;
  std::span<const unsigned char> bytes() const { return body.bytes(); }
};

// The 5 bytes that precede a body of `body_size` bytes (≤ kMaxBody; not checked beyond an assert).
std::array<unsigned char, kHeaderSize> frame_header(FrameKind kind, std::size_t body_size);
// Header + body in one buffer (sodium memory, wiped when dropped). Bodies over kMaxBody, empty
// data/json/file bodies and a non-empty end body are bugs: invalid_argument.
Result<Secret> encode_frame(FrameKind kind, std::span<const unsigned char> body);
// A JSON value serialised (canonical form, §3; invalid UTF-8 in strings replaced, as `--json`
// output does) as one kind `kind` frame (json or file). A json message over kMaxBody becomes
// part frames and a final json frame, all in the returned buffer (up to kMaxReply; only the
// server sends such messages: a server refuses part frames). invalid_argument beyond that, or
// for a file header over kMaxBody.
Result<Secret> encode_json_frame(const nlohmann::json& value, FrameKind kind = FrameKind::json);
// The same into memory the caller places: `place(n)` returns where the n encoded bytes go
// (sodium memory the caller wipes); returns n. Connection::send_json reuses one buffer so.
Result<std::size_t> encode_json_frame_to(const nlohmann::json& value, FrameKind kind,
                                         const std::function<unsigned char*(std::size_t)>& place);

// Incremental, bounded decoder (§2). It holds at most one frame: the body buffer is
// allocated when a valid header has arrived, at exactly the announced size. Any bad length
// or kind is an error at the first byte that shows it, and the decoder stays failed.
class FrameDecoder {
 public:
  // Takes bytes from `in` up to the end of the next frame and returns how many it took
  // (fewer than in.size() when a frame completed; 0 while a completed frame waits in pop()).
  Result<std::size_t> feed(std::span<const unsigned char> in);
  // The completed frame, if feed() finished one.
  std::optional<Frame> pop();
  // No partial frame is buffered: an end of stream here is clean, elsewhere it is truncation.
  bool idle() const { return have_ == 0 && !ready_; }
  bool failed() const { return failed_.has_value(); }

 private:
  Result<void> check_header();
  std::array<unsigned char, kHeaderSize> header_{};
  std::size_t have_ = 0;        // header bytes, then header + body bytes, received
  std::size_t body_size_ = 0;
  Frame frame_;
  bool ready_ = false;
  std::optional<Error> failed_;
};

// A body parsed as a JSON object: UTF-8, one object, at most kMaxJsonDepth deep.
Result<nlohmann::json> parse_json_object(std::span<const unsigned char> body);

// --- Envelope (§3, §4) -----------------------------------------------------------------

// The server's first frame: {"protocol":"tillid-control","version":1,"daemon":"<ver>"}.
nlohmann::json make_hello(std::string_view daemon_version);
struct Hello {
  int version = 0;
  std::string daemon;  // the daemon's version string
};
// unsupported for another protocol or version; corrupt for a malformed hello.
Result<Hello> parse_hello(const nlohmann::json& hello);

struct Request {
  std::string op;       // [a-z.]{1,32}
  nlohmann::json args;  // always an object ({} when the client sent none)
};
nlohmann::json make_request(std::string_view op, const nlohmann::json& args);
// Server side: a request frame's JSON. invalid_argument (malformed) or unsupported (another v).
Result<Request> parse_request(const nlohmann::json& message);

// What an op streams (§5). The daemon drives its connection state from this.
enum class Input { none, required, optional };  // optional: record.start with args.stream
enum class Output { none, data, files };
struct OpSpec {
  std::string_view name;
  Input input;
  Output output;
};
std::span<const OpSpec> ops();                   // every op of version 1, in the spec's order
const OpSpec* find_op(std::string_view name);    // nullptr for an unknown op

nlohmann::json reply_ok(nlohmann::json result);
nlohmann::json reply_error(const Error& error);  // {"ok":false,"error":{"code","message"}}
// Client side: the result, or the server's Error with its code mapped back (§6); corrupt for
// a malformed reply. An unknown code name becomes internal (a newer daemon's code).
Result<nlohmann::json> parse_reply(const nlohmann::json& reply);

std::optional<Errc> parse_errc(std::string_view name);  // inverse of tillid::to_string(Errc)

// Export and audit.log streams announce each file (§5.2): a plain name, no directories.
struct FileHeader {
  std::string name;
  std::uint64_t size = 0;
};
nlohmann::json make_file_header(const FileHeader& file);
Result<FileHeader> parse_file_header(const nlohmann::json& header);
bool valid_file_name(std::string_view name);

// Overwrites every string in `j`: requests and replies carry names, CPR numbers, passphrases.
void wipe_json(nlohmann::json& j);

// --- Blocking I/O on a connected stream socket --------------------------------------------

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;  // nullopt: wait as long as it takes

// A connected socket (owned, closed on destruction) with a frame decoder, for either side.
// Signals interrupt nothing (EINTR is retried; SIGPIPE is never raised: MSG_NOSIGNAL).
// `peer` names the other side in error messages ("tillidd" for the client; the daemon passes
// e.g. "the client").
class Connection {
 public:
  explicit Connection(int fd, std::string peer = "tillidd");
  ~Connection();
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  // Writes all of `bytes` (a whole encoded frame or several) before the deadline.
  Result<void> send(std::span<const unsigned char> bytes, Deadline deadline = std::nullopt);
  // A JSON message as a json frame (encode_json_frame), sent. Encoded into one sodium buffer
  // kept by this connection and wiped after each message, instead of a fresh sodium_malloc
  // (mmap, mprotect, mlock: more than the rest of a small request costs) per message.
  Result<void> send_json(const nlohmann::json& value, Deadline deadline = std::nullopt);
  // As send(), but gives up early and returns false when a frame arrives from the peer
  // first (a refusal while the client uploads, §5.1); receive() then returns it.
  Result<bool> send_unless_frame(std::span<const unsigned char> bytes, Deadline deadline = std::nullopt);
  // The next frame. io on end of stream ("closed the connection") or timeout ("did not
  // answer in time"); corrupt for bytes that break the framing (the decoder's reason, §2).
  Result<Frame> receive(Deadline deadline = std::nullopt);
  // No partial frame is buffered (an end of stream now would be clean).
  bool idle() const { return decoder_.idle() && start_ == end_; }

 private:
  Result<bool> read_some(Deadline deadline);  // false: end of stream
  void close_fd();
  Error closed() const;
  int fd_ = -1;
  std::string peer_;
  FrameDecoder decoder_;
  Secret buffer_;                   // bytes read but not yet decoded
  Secret out_;                      // send_json's buffer: at most kKeptSendBuffer, wiped after use
  std::size_t start_ = 0, end_ = 0; // the undecoded part of buffer_
};

// --- Client (§7) -------------------------------------------------------------------------

// Where an op's output goes. get: on_data... on_end. export / audit.log: per file on_file,
// on_data..., on_end. An Error from a callback abandons the call and closes the connection.
class Receiver {
 public:
  virtual ~Receiver() = default;
  virtual Result<void> on_file(const std::string& name, std::uint64_t size) = 0;
  virtual Result<void> on_data(std::span<const unsigned char> bytes) = 0;
  virtual Result<void> on_end() = 0;
};

// One connection to tillidd, one request at a time. Replies may take as long as the op does
// (verify reads every object), so only the hello has a deadline.
class ControlClient {
 public:
  static constexpr std::chrono::milliseconds kHelloTimeout{5000};
  // Connects and checks the hello. io with "is tillidd running?" when nothing listens there.
  static Result<ControlClient> connect(const std::filesystem::path& socket,
                                       std::chrono::milliseconds hello_timeout = kHelloTimeout);

  // One request. `input`: the op's input stream (sent as data frames, then end). `output`:
  // where streamed output goes (required for get, export, audit.log). Error replies come back
  // as the server's Error; after a transport error, a callback error or an early reply the
  // connection is closed and further calls fail.
  Result<nlohmann::json> call(std::string_view op, const nlohmann::json& args,
                              const ByteSource* input = nullptr, Receiver* output = nullptr);

  const Hello& hello() const { return hello_; }

 private:
  ControlClient(Connection conn, Hello hello) : conn_(std::move(conn)), hello_(std::move(hello)) {}
  Result<nlohmann::json> receive_reply(Receiver* output);
  Result<bool> send_input(const ByteSource& input);
  std::optional<Connection> conn_;
  Hello hello_;
};

}  // namespace tillid::control
