// End-to-end harness: a real Samba DC (started by ctest's fixture through
// scripts/samba_dc.sh), the real adsync-coordinator and adsync-agent
// binaries as child processes, and gRPC clients for the admin API.
#ifndef ADSYNC_TESTS_E2E_HARNESS_H_
#define ADSYNC_TESTS_E2E_HARNESS_H_

#include <grpcpp/security/credentials.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adsync/v1/admin.grpc.pb.h"
#include "adsync/v1/panel.pb.h"
#include "tests/support/process.h"
#include "tests/support/test_util.h"

namespace adsync::testing {

std::string BinaryPath(const std::string& relative);  // under the build dir

// The end-to-end tests' private CA and certificates (MakeTestCertificates):
// every test coordinator serves agents over TLS with them.
std::string E2eCertDir();
// Agent credentials trusting that CA (for scripted WireAgents).
std::shared_ptr<grpc::ChannelCredentials> E2eAgentCredentials();

// For tests on the samba_forest fixture's DCs (tests/CMakeLists.txt: a1 and
// its replica a2 of DISTRICT, b1 of STAFF, under `forest_dir`): names the
// forest's namespace for `samba_dc.sh replicate` and lets agents dial from
// 127.0.0.41-43.
void UseForest(const std::string& forest_dir);

// A provisioned, running DC directory (see scripts/samba_dc.sh).
class Dc {
 public:
  explicit Dc(std::string dir);
  const std::string& dir() const { return dir_; }
  std::string Env(const std::string& key) const { return env_.at(key); }
  std::string ip() const { return Env("IP"); }
  std::string base_dn() const { return Env("BASE_DN"); }
  std::string ca_file() const { return dir_ + "/tls/ca.pem"; }
  std::string password_file() const { return dir_ + "/admin.password"; }

  // Runs ldapadd/ldapmodify/ldapdelete as Administrator; fails the test on
  // error.
  void Ldap(const std::string& tool, const std::string& ldif,
            const std::vector<std::string>& extra = {});
  // Adds an OU under the domain (or `parent`) and returns its DN.
  std::string AddOu(const std::string& name, const std::string& parent = "");
  struct User {
    std::string sam;
    std::string mail;
    std::string upn;  // default sam@realm
    bool disabled = false;
  };
  // Adds users (one ldapadd call); returns their DNs.
  std::vector<std::string> AddUsers(const std::string& ou_dn,
                                    const std::vector<User>& users);
  void Replace(const std::string& dn, const std::string& attribute,
               const std::string& value);
  void Delete(const std::string& dn);

 private:
  std::string dir_;
  std::map<std::string, std::string> env_;
};

// panel-sim on a free port with its own database in `dir`.
class PanelSimProcess {
 public:
  explicit PanelSimProcess(const std::string& dir);
  void Start();
  void Stop();
  std::string base_url() const;
  const std::string& token_file() const { return token_file_; }
  // POST a JSON body to a /sim endpoint; fails the test on error.
  void Post(const std::string& path, const std::string& json);
  void SetFaults(const std::string& json) { Post("/sim/faults", json); }
  void SeedPeople(const std::string& org, const std::string& people_json);
  adsync::v1::SimOrgState State(const std::string& org);
  adsync::v1::SimReports Reports(const std::string& org);
  adsync::v1::SimStats Stats();
  // The identities K12Panel holds for a person (empty when none).
  std::vector<adsync::v1::PanelIdentity> Identities(const std::string& org,
                                                    const std::string& person);
  // The person K12Panel maps DOMAIN\sam to ("" = none).
  std::string PersonOf(const std::string& org, const std::string& domain,
                       const std::string& sam);

 private:
  std::string dir_;
  int port_;
  std::string token_file_;
  std::unique_ptr<Process> process_;
};

// Coordinator config pushing to `panel` quickly, with fast heartbeats and a
// 2 s lease (failover tests), and no periodic People pull.
std::string FastFailoverPanelConfig(const PanelSimProcess& panel);

// The coordinator binary on free ports with a fresh SQLite database in
// `dir`, or on the PostgreSQL database of the connection string `postgres`.
// `extra_config` is appended to its text-format config.
class Coordinator {
 public:
  explicit Coordinator(const std::string& dir,
                       const std::string& extra_config = "",
                       const std::string& postgres = "");
  void Start();
  void Kill9();  // a crash: no clean shutdown
  void Stop();
  // Runs the coordinator through `prefix` (e.g. unshare ... sh -c SCRIPT,
  // which then execs "$0" "$@"). Call before Start().
  void set_launch_prefix(std::vector<std::string> prefix) {
    launch_prefix_ = std::move(prefix);
  }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::string Log() const { return process_ ? process_->Log() : ""; }
  int agent_port() const { return agent_port_; }
  std::string agent_target(const std::string& ip = "127.0.0.1") const;

  // Live by default (pushing at once); `live` false starts it in preview.
  std::string CreateOrg(const std::string& name, bool live = true);
  // Returns the new AD Sync's key.
  std::string AddSync(const std::string& org, const std::string& domain,
                      const std::string& ip, std::string* sync_id = nullptr,
                      int priority = 0);
  void ImportPeople(const std::string& org, const std::string& csv);
  adsync::v1::OrgStatus Status(const std::string& org);
  adsync::v1::ResolveLoginResponse Resolve(const std::string& org,
                                           const std::string& login);
  grpc::Status PullPeople(const std::string& org);
  grpc::Status ResolveQuarantine(const std::string& org, bool approve);
  grpc::Status Preview(const std::string& org,
                       adsync::v1::PreviewOrgResponse* preview);
  grpc::Status SetLive(const std::string& org, bool live,
                       const std::string& preview_digest = "");

 private:
  std::unique_ptr<grpc::ClientContext> Ctx();
  std::string dir_;
  int agent_port_;
  int admin_port_;
  std::vector<std::string> launch_prefix_;
  std::unique_ptr<Process> process_;
  std::unique_ptr<adsync::v1::Admin::Stub> admin_;
  std::unique_ptr<adsync::v1::Status::Stub> status_;
};

// Writes an agent config (plus key and password files) into `dir`.
struct AgentSetup {
  std::string dir;
  std::string coordinator;
  std::string org;
  std::string key;
  std::string domain = "DISTRICT";
  std::string ldap_uri;
  std::string ca_file;  // the DC's CA
  // Trusted for the coordinator; empty = the e2e CA (E2eCertDir()).
  std::string coordinator_ca_file;
  std::string bind_dn;
  std::string password_file;
  std::vector<std::string> base_dns;
  int page_size = 0;  // 0 = default
  // Between searches for all changes: the poll, and with change
  // notification the backstop too (searching as often as without it). A
  // long interval shows that notifications carried a change.
  int poll_interval_seconds = 1;
  std::string extra;       // appended text-format fields
  std::string ldap_extra;  // appended inside ldap { }
  // Name files as the Windows agent under Wine sees them (Z:/...).
  bool windows_paths = false;
};
std::string WriteAgentConfig(
    const AgentSetup& setup);  // returns the config path

// An agent of `org` on `dc` over LDAPS (as Administrator, reading `ou`),
// dialing the coordinator's agent port from `ip`; its files go in `dir`
// (created).
AgentSetup DcAgentSetup(const Dc& dc, const Coordinator& coordinator,
                        const std::string& ip, const std::string& org,
                        const std::string& key, const std::string& ou,
                        const std::string& dir);

std::unique_ptr<Process> StartAgent(const std::string& config,
                                    const std::string& log);
RunResult RunAgentOnce(const std::string& config);

}  // namespace adsync::testing

#endif  // ADSYNC_TESTS_E2E_HARNESS_H_
