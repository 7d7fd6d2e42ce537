// Turns an AD user entry (live or tombstone) into the wire's ProfileDelta:
// binary objectGUID/objectSid as AD stores them, and replication stamps for
// the attributes the coordinator orders by. Thread-safe (pure).
#ifndef ADSYNC_AGENT_ACCOUNT_READER_H_
#define ADSYNC_AGENT_ACCOUNT_READER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adsync/v1/agent.pb.h"
#include "agent/directory.h"

namespace adsync {

// The attributes every account search asks for.
const std::vector<std::string>& AccountAttributes();

// The default account filter: user accounts, not computers.
inline constexpr char kDefaultAccountFilter[] =
    "(&(objectCategory=person)(objectClass=user))";

// Errors (InvalidArgument) name the entry's DN and the bad attribute.
absl::StatusOr<adsync::v1::ProfileDelta> EntryToDelta(const LdapEntry& entry);

}  // namespace adsync

#endif  // ADSYNC_AGENT_ACCOUNT_READER_H_
