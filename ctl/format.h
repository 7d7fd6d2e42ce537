// How adsyncctl shows things to people: aligned tables and plain sentences.
// `--json` output is the protos' JSON mapping instead. Thread-safe (pure).
#ifndef ADSYNC_CTL_FORMAT_H_
#define ADSYNC_CTL_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "adsync/v1/admin.pb.h"

namespace adsync {

// Renders rows as columns separated by two spaces; the first row is the header.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

// "12s ago", "5m ago", "never" relative to `now_unix`.
std::string Ago(int64_t then_unix, int64_t now_unix);

// The status screen: per org a summary line, then one line per AD Sync, then
// recent rejections.
std::string FormatStatus(const adsync::v1::GetStatusResponse& status,
                         int64_t now_unix);

// A preview: what going live would change in K12Panel, with counts, then
// one line per identity of each changed Person, then the next step.
std::string FormatPreview(const adsync::v1::PreviewOrgResponse& preview,
                          int64_t now_unix);

std::string FormatResolve(const adsync::v1::ResolveLoginResponse& response);

}  // namespace adsync

#endif  // ADSYNC_CTL_FORMAT_H_
