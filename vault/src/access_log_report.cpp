// Access log reports for people: a fixed-width text table, JSON, and a self-contained HTML page
// (inline CSS, no scripts, no external resources) with one timeline per item in which refused
// and failed attempts stand out. All text placed in HTML is escaped.
#include <nlohmann/json.hpp>

#include <ctime>
#include <map>

#include "access_log_format.hpp"
#include "tillid/access_log.hpp"

namespace tillid {

namespace {

std::string iso_time(std::int64_t ms) {
  std::int64_t secs = ms / 1000, rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(ms) + "ms";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(rem));
  return buf;
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

constexpr std::string_view kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1d1d1f;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.8em}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.summary{background:#f3f4f6;border:1px solid #d1d5db;border-radius:6px;padding:.8em 1em;margin:1em 0}
.verified{color:#065f46;font-weight:600}.tampered{color:#b91c1c;font-weight:700}
ul.problems li{color:#b91c1c}
table{border-collapse:collapse;width:100%;font-size:.9em;margin-top:.4em}
th,td{border:1px solid #d1d5db;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#e5e7eb}
tr.outcome-refused td,tr.outcome-failed td{background:#fde2e2}
tr.outcome-refused td:first-child,tr.outcome-failed td:first-child{border-left:4px solid #dc2626}
.badge{display:inline-block;padding:.05em .5em;border-radius:4px;font-weight:700;font-size:.85em}
.badge.ok{background:#d1fae5;color:#065f46}
.badge.refused,.badge.failed{background:#dc2626;color:#fff}
.seq,.time{white-space:nowrap;font-family:ui-monospace,Menlo,Consolas,monospace}
tr.quarantined td{background:#fef3c7;text-decoration:line-through}
.badge.quarantined{background:#b45309;color:#fff}
footer{margin-top:2em;color:#6b7280;font-size:.85em}
)";

}  // namespace

// Quarantined entries (LOG-FORMAT.md §3.4) are marked in every format: a reader must never
// take one for something the appliance attests it did.
std::string render_log_text(std::span<const LogEntry> entries, std::span<const LogSeqRange> quarantined) {
  std::string out = pad("SEQ", 8) + pad("TIME (UTC)", 26) + pad("ACTOR", 22) + pad("ROLE", 12) +
                    pad("ACTION", 18) + pad("OUTCOME", 9) + pad("CASE", 34) + pad("ITEM", 34) + "DETAILS\n";
  for (const auto& e : entries) {
    const bool q = in_ranges(quarantined, e.seq);
    out += pad(std::to_string(e.seq) + (q ? "!Q" : ""), 8) + pad(iso_time(e.time_unix_ms), 26) + pad(e.actor_id, 22) +
           pad(e.actor_role, 12) + pad(to_string(e.action), 18) + pad(std::string(to_string(e.outcome)), 9) +
           pad(e.case_id.empty() ? "-" : e.case_id, 34) + pad(e.item_id.empty() ? "-" : e.item_id, 34) +
           (q ? "[QUARANTINED: not authenticated as written by the appliance] " : "") + e.details + "\n";
  }
  if (!quarantined.empty())
    out += "!Q = quarantined: written while the vault was locked or not by the appliance (LOG-FORMAT.md §3.4)\n";
  return out;
}

std::string render_log_json(std::span<const LogEntry> entries, std::span<const LogSeqRange> quarantined) {
  auto arr = nlohmann::json::array();
  for (const auto& e : entries) {
    arr.push_back({{"seq", e.seq},
                   {"time_unix_ms", e.time_unix_ms},
                   {"time", iso_time(e.time_unix_ms)},
                   {"actor_id", e.actor_id},
                   {"actor_role", e.actor_role},
                   {"action", to_string(e.action)},
                   {"outcome", std::string(to_string(e.outcome))},
                   {"case_id", e.case_id},
                   {"item_id", e.item_id},
                   {"details", e.details},
                   {"quarantined", in_ranges(quarantined, e.seq)}});
  }
  return arr.dump(2) + "\n";
}

std::string render_log_html(std::span<const LogEntry> entries, std::string_view title,
                            const LogVerifyReport* verification, std::span<const LogSeqRange> quarantined) {
  if (quarantined.empty() && verification != nullptr) quarantined = verification->quarantined;
  std::size_t refused = 0, failed = 0;
  // One timeline per item, in order of first appearance; events with no item come first.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const LogEntry*>> groups;
  for (const auto& e : entries) {
    if (e.outcome == LogOutcome::refused) ++refused;
    if (e.outcome == LogOutcome::failed) ++failed;
    auto [it, fresh] = groups.try_emplace(e.item_id);
    if (fresh) order.push_back(e.item_id);
    it->second.push_back(&e);
  }
  std::stable_partition(order.begin(), order.end(), [](const std::string& s) { return s.empty(); });

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
  h += "<title>" + html_escape(title) + "</title>\n<style>" + std::string(kCss) + "</style>\n</head>\n<body>\n";
  h += "<h1>" + html_escape(title) + "</h1>\n<div class=\"summary\">\n";
  h += "<p><strong>" + std::to_string(entries.size()) + "</strong> entries · <strong>" + std::to_string(refused) +
       "</strong> refused · <strong>" + std::to_string(failed) + "</strong> failed";
  if (!entries.empty())
    h += " · from <span class=\"time\">" + iso_time(entries.front().time_unix_ms) + "</span> to <span class=\"time\">" +
         iso_time(entries.back().time_unix_ms) + "</span>";
  h += "</p>\n";
  if (verification != nullptr) {
    if (verification->clean()) {
      h += "<p class=\"verified\">Log verified: " + std::to_string(verification->entries) + " entries, " +
           std::to_string(verification->checkpoints) + " signed checkpoints, root <code>" +
           logfmt::hex(verification->root) + "</code></p>\n";
    } else {
      h += "<p class=\"tampered\">LOG VERIFICATION FAILED";
      if (verification->first_bad_seq) h += " — first bad seq " + std::to_string(*verification->first_bad_seq);
      h += "</p>\n<ul class=\"problems\">\n";
      for (const auto& p : verification->problems)
        h += "<li>" + html_escape(to_string(p.kind)) + ": " + html_escape(p.message) + "</li>\n";
      h += "</ul>\n";
    }
    if (!verification->quarantined.empty())
      h += "<p class=\"tampered\">QUARANTINED entries present: marked below; they were written while the vault was "
           "locked or not by the appliance, and are not evidence of what it did.</p>\n";
    for (const auto& n : verification->notes) h += "<p>" + html_escape(n) + "</p>\n";
  }
  h += "</div>\n";
  for (const auto& item : order) {
    const auto& rows = groups[item];
    h += "<section class=\"item\">\n<h2>";
    h += item.empty() ? std::string("Events not about an item") : "Item <code>" + html_escape(item) + "</code>";
    h += " <small>(" + std::to_string(rows.size()) + " events)</small></h2>\n";
    h += "<table>\n<thead><tr><th>Seq</th><th>Time (UTC)</th><th>Actor</th><th>Role</th><th>Action</th>"
         "<th>Outcome</th><th>Case</th><th>Details</th></tr></thead>\n<tbody>\n";
    for (const LogEntry* e : rows) {
      const std::string oc(to_string(e->outcome));
      std::string badge = oc;
      for (auto& c : badge) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const bool q = in_ranges(quarantined, e->seq);
      h += "<tr class=\"outcome-" + oc + (q ? " quarantined" : "") + "\" data-seq=\"" + std::to_string(e->seq) + "\">";
      h += "<td class=\"seq\">" + std::to_string(e->seq) + "</td>";
      h += "<td class=\"time\">" + iso_time(e->time_unix_ms) + "</td>";
      h += "<td>" + html_escape(e->actor_id) + "</td><td>" + html_escape(e->actor_role) + "</td>";
      h += "<td>" + html_escape(to_string(e->action)) + "</td>";
      h += "<td><span class=\"badge " + oc + "\">" + badge + "</span>" +
           (q ? " <span class=\"badge quarantined\">QUARANTINED</span>" : "") + "</td>";
      h += "<td><code>" + html_escape(e->case_id) + "</code></td><td>" + html_escape(e->details) + "</td></tr>\n";
    }
    h += "</tbody>\n</table>\n</section>\n";
  }
  h += "<footer>Generated from the Tillid access log. Entries hold ids only; names and content are never logged.</footer>\n";
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace tillid
