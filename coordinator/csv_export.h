// What adsync exports as CSV (RFC 4180), for admins working in a
// spreadsheet: accounts by outcome (fixing emails) and a preview (what going
// live would change). Used by adsyncctl and the status page. Pure.
//
// Values come from AD, where anyone who can edit a user controls them;
// spreadsheets run a cell starting with = + - @ (or a tab or CR) as a
// formula ("CSV injection"), so such cells start with ' instead.
#ifndef ADSYNC_COORDINATOR_CSV_EXPORT_H_
#define ADSYNC_COORDINATOR_CSV_EXPORT_H_

#include <string>

#include "adsync/v1/admin.pb.h"

namespace adsync {

// One CSV cell: quoted when needed, formula-looking values defused.
std::string CsvField(const std::string& raw);

std::string FormatAccountsCsv(const adsync::v1::ListAccountsResponse& accounts);

// One row per identity of each changed Person: the Person's change, the
// identity's (added, changed, removed, unchanged), the identity as going
// live would send it (or as K12Panel holds it, when removed), and for a
// changed one what K12Panel holds now in the was_* columns.
std::string FormatPreviewCsv(const adsync::v1::PreviewOrgResponse& preview);

}  // namespace adsync

#endif  // ADSYNC_COORDINATOR_CSV_EXPORT_H_
