// Databases for tests of the store on both engines: a fresh PostgreSQL
// database per call on one real server per test binary (started on first
// use by scripts/postgres.sh, stopped at exit), and how to name the engines
// in parameterized tests.
//
//   INSTANTIATE_TEST_SUITE_P(Engines, StoreTest,
//                            ::testing::Values(Engine::kSqlite,
//                                              Engine::kPostgres),
//                            EngineName);
//
// The server stops when the test binary exits normally; one killed (a
// crash, ctest's timeout) leaves it running in its /tmp/adsync-test-*
// directory until `scripts/postgres.sh stop DIR`.
//
// Thread-safety: FreshPostgresDatabase may be called from any thread.
#ifndef ADSYNC_TESTS_SUPPORT_TEST_DATABASES_H_
#define ADSYNC_TESTS_SUPPORT_TEST_DATABASES_H_

#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace adsync::testing {

enum class Engine { kSqlite, kPostgres };

std::string EngineName(const ::testing::TestParamInfo<Engine>& info);

// A connection string for a new, empty database owned by role adsync.
absl::StatusOr<std::string> FreshPostgresDatabase();

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_SUPPORT_TEST_DATABASES_H_
