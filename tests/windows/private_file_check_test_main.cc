// private_file_check_test.exe: the Windows secret- and config-file rule
// (CheckDescriptorIsPrivate, common/private_file.h) applied to security
// descriptors written in SDDL, for tests/windows/windows_platform_test.cc.
// Wine derives a file's DACL from its Unix mode and shows no owner but the
// user, so DACLs and owners Windows may have are built here instead.
// A test program: not installed, not part of adsync-agent.exe.
//
//   private_file_check_test.exe read|write SDDL [--object-ace SID]
//
// Prints "OK" (exit 0) or the refusal (exit 1). --object-ace appends an
// ACCESS_ALLOWED_OBJECT_ACE granting SID read and write (Wine's SDDL parser
// does not build object ACEs). Wine's parser also reads
// D:NO_ACCESS_CONTROL as an empty DACL: a descriptor without D: has none.
#include <windows.h>
// Windows headers after windows.h.
#include <sddl.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/private_file.h"
#include "common/windows_api.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: private_file_check_test.exe read|write SDDL "
               "[--object-ace SID]\n");
  return 2;
}

int Fail(const char* what) {
  std::fprintf(stderr, "%s: %s\n", what,
               adsync::Win32ErrorText(GetLastError()).c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5) return Usage();
  const std::string mode = argv[1];
  if (mode != "read" && mode != "write") return Usage();
  const adsync::GuardedAccess guarded = mode == "read"
                                            ? adsync::GuardedAccess::kRead
                                            : adsync::GuardedAccess::kWrite;
  PSECURITY_DESCRIPTOR parsed = nullptr;
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(
          argv[2], SDDL_REVISION_1, &parsed, nullptr)) {
    return Fail("ConvertStringSecurityDescriptorToSecurityDescriptor");
  }
  std::unique_ptr<void, adsync::LocalFreeDeleter> owned_parsed(parsed);
  PSECURITY_DESCRIPTOR descriptor = parsed;

  // The parsed owner and DACL plus one object ACE, in a descriptor of its
  // own (absolute: it points at them).
  SECURITY_DESCRIPTOR with_object;
  std::vector<BYTE> acl_buffer;
  std::unique_ptr<void, adsync::LocalFreeDeleter> owned_sid;
  if (argc == 5) {
    if (std::string(argv[3]) != "--object-ace") return Usage();
    PSID sid = nullptr;
    if (!ConvertStringSidToSidA(argv[4], &sid)) return Fail("--object-ace");
    owned_sid.reset(sid);
    PSID owner = nullptr;
    BOOL defaulted = FALSE;
    BOOL present = FALSE;
    PACL dacl = nullptr;
    GetSecurityDescriptorOwner(parsed, &owner, &defaulted);
    GetSecurityDescriptorDacl(parsed, &present, &dacl, &defaulted);
    acl_buffer.resize((dacl != nullptr ? dacl->AclSize : sizeof(ACL)) +
                      sizeof(ACCESS_ALLOWED_OBJECT_ACE) + GetLengthSid(sid));
    PACL acl = reinterpret_cast<PACL>(acl_buffer.data());
    if (!InitializeAcl(acl, static_cast<DWORD>(acl_buffer.size()),
                       ACL_REVISION_DS)) {
      return Fail("InitializeAcl");
    }
    for (DWORD i = 0; dacl != nullptr && i < dacl->AceCount; ++i) {
      ACE_HEADER* ace = nullptr;
      GetAce(dacl, i, reinterpret_cast<void**>(&ace));
      if (!AddAce(acl, ACL_REVISION_DS, MAXDWORD, ace, ace->AceSize)) {
        return Fail("AddAce");
      }
    }
    // By hand: Wine 8 does not implement AddAccessAllowedObjectAce.
    const GUID object_type = {
        0x12345678, 0x1234, 0x1234, {1, 2, 3, 4, 5, 6, 7, 8}};
    std::vector<BYTE> ace(sizeof(ACE_HEADER) + 2 * sizeof(DWORD) +
                          sizeof(GUID) + GetLengthSid(sid));
    ACE_HEADER header = {ACCESS_ALLOWED_OBJECT_ACE_TYPE, 0,
                         static_cast<WORD>(ace.size())};
    const DWORD mask = FILE_GENERIC_READ | FILE_GENERIC_WRITE;
    const DWORD flags = ACE_OBJECT_TYPE_PRESENT;
    BYTE* p = ace.data();
    std::memcpy(p, &header, sizeof(header));
    p += sizeof(header);
    std::memcpy(p, &mask, sizeof(mask));
    p += sizeof(mask);
    std::memcpy(p, &flags, sizeof(flags));
    p += sizeof(flags);
    std::memcpy(p, &object_type, sizeof(object_type));
    p += sizeof(object_type);
    std::memcpy(p, sid, GetLengthSid(sid));
    if (!AddAce(acl, ACL_REVISION_DS, MAXDWORD, ace.data(),
                static_cast<DWORD>(ace.size()))) {
      return Fail("AddAce (object)");
    }
    InitializeSecurityDescriptor(&with_object, SECURITY_DESCRIPTOR_REVISION);
    SetSecurityDescriptorOwner(&with_object, owner, FALSE);
    SetSecurityDescriptorDacl(&with_object, TRUE, acl, FALSE);
    descriptor = &with_object;
  }

  const absl::Status status = adsync::CheckDescriptorIsPrivate(
      descriptor, guarded, "C:\\test\\file", "test file");
  if (status.ok()) {
    std::printf("OK\n");
    return 0;
  }
  std::printf("%s\n", std::string(status.message()).c_str());
  return 1;
}
