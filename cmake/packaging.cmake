# Debian packages of the Linux binaries, built with CPack (DEB generator,
# one package per component):
#
#   adsync-agent        /usr/sbin/adsync-agent, its systemd unit, the example
#                       /etc/adsync/agent.textproto
#   adsync-coordinator  /usr/sbin/adsync-coordinator, /usr/bin/adsyncctl, the
#                       unit, the example /etc/adsync/coordinator.textproto
#
# scripts/build_packages.sh BUILD_DIR OUT_DIR builds them and checks them
# with lintian; tests/packaging/package_install_test.sh installs, starts,
# upgrades and purges them in a throwaway overlay of the system. The unit
# files, maintainer scripts, man pages and Debian docs are in
# packaging/debian/. (The Windows agent's MSI: packaging/windows/.)
#
# The install() rules below are for the packages only: their components
# are EXCLUDE_FROM_ALL, so a plain `cmake --install` installs nothing, and
# their paths are Debian's (the units name /usr/sbin and /etc/adsync).

set(_pkg_src ${PROJECT_SOURCE_DIR}/packaging/debian)
set(_pkg_bin ${CMAKE_BINARY_DIR}/packaging/debian)
set(ADSYNC_DEB_RELEASE 1)
set(ADSYNC_DEB_VERSION ${PROJECT_VERSION}-${ADSYNC_DEB_RELEASE})
set(ADSYNC_VERSION ${PROJECT_VERSION})

# The Debian changelog is the record of package versions: its first entry
# must be this version (scripts/build_packages.sh refuses to build
# otherwise).
file(STRINGS ${_pkg_src}/changelog _changelog_head LIMIT_COUNT 1)
if(NOT _changelog_head MATCHES "^adsync \\(${ADSYNC_DEB_VERSION}\\) ")
  message(WARNING "packaging/debian/changelog does not start with an entry "
    "for ${ADSYNC_DEB_VERSION} (project version ${PROJECT_VERSION}, Debian "
    "release ${ADSYNC_DEB_RELEASE}); add one before building the packages")
endif()

# Generated once per configure: the example configs (a header saying which
# files the operator creates, then the documented example from configs/),
# the gzip -9n'd changelog and man pages lintian expects, and the
# maintainer scripts under the names CPack looks for.
function(_adsync_gzip_n in out)
  configure_file(${in} ${out} @ONLY)
  execute_process(COMMAND gzip -9nf ${out} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip -9n ${out} failed")
  endif()
endfunction()

foreach(_component agent coordinator)
  set(_pkg adsync-${_component})
  set(_dir ${_pkg_bin}/${_pkg})
  file(READ ${_pkg_src}/${_component}.textproto.head _head)
  file(READ ${PROJECT_SOURCE_DIR}/configs/${_component}.textproto _example)
  file(WRITE ${_dir}/${_component}.textproto.new "${_head}${_example}")
  configure_file(${_dir}/${_component}.textproto.new
                 ${_dir}/${_component}.textproto COPYONLY)  # if changed
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    ${_pkg_src}/${_component}.textproto.head
    ${PROJECT_SOURCE_DIR}/configs/${_component}.textproto)
  _adsync_gzip_n(${_pkg_src}/changelog ${_dir}/changelog.Debian)
  foreach(_script postinst prerm postrm conffiles)
    configure_file(${_pkg_src}/${_pkg}.${_script} ${_dir}/control/${_script}
                   COPYONLY)
  endforeach()
endforeach()
_adsync_gzip_n(${_pkg_src}/adsync-agent.8 ${_pkg_bin}/man/adsync-agent.8)
_adsync_gzip_n(${_pkg_src}/adsync-coordinator.8
               ${_pkg_bin}/man/adsync-coordinator.8)
_adsync_gzip_n(${_pkg_src}/adsyncctl.1 ${_pkg_bin}/man/adsyncctl.1)

# --- What each package holds ------------------------------------------------
set(_conf_perms OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# CPACK_STRIP_FILES (below) strips the debug information; this also drops
# the .comment and .note sections, as dh_strip does.
function(_adsync_strip file component)
  install(CODE "execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
      --remove-section=.comment --remove-section=.note
      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${file}\"
      COMMAND_ERROR_IS_FATAL ANY)"
    COMPONENT ${component} EXCLUDE_FROM_ALL)
endfunction()

install(TARGETS adsync-agent RUNTIME DESTINATION sbin
        COMPONENT agent EXCLUDE_FROM_ALL)
_adsync_strip(sbin/adsync-agent agent)
install(FILES ${_pkg_src}/adsync-agent.service
        DESTINATION /lib/systemd/system PERMISSIONS ${_conf_perms}
        COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg_bin}/adsync-agent/agent.textproto
        DESTINATION /etc/adsync PERMISSIONS ${_conf_perms}
        COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg_bin}/man/adsync-agent.8.gz
        DESTINATION share/man/man8 PERMISSIONS ${_conf_perms}
        COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg_src}/copyright ${_pkg_bin}/adsync-agent/changelog.Debian.gz
        DESTINATION share/doc/adsync-agent PERMISSIONS ${_conf_perms}
        COMPONENT agent EXCLUDE_FROM_ALL)
install(FILES ${_pkg_src}/adsync-agent.lintian-overrides
        DESTINATION share/lintian/overrides RENAME adsync-agent
        PERMISSIONS ${_conf_perms} COMPONENT agent EXCLUDE_FROM_ALL)

install(TARGETS adsync-coordinator RUNTIME DESTINATION sbin
        COMPONENT coordinator EXCLUDE_FROM_ALL)
_adsync_strip(sbin/adsync-coordinator coordinator)
install(TARGETS adsyncctl RUNTIME DESTINATION bin
        COMPONENT coordinator EXCLUDE_FROM_ALL)
_adsync_strip(bin/adsyncctl coordinator)
install(FILES ${_pkg_src}/adsync-coordinator.service
        DESTINATION /lib/systemd/system PERMISSIONS ${_conf_perms}
        COMPONENT coordinator EXCLUDE_FROM_ALL)
install(FILES ${_pkg_bin}/adsync-coordinator/coordinator.textproto
        DESTINATION /etc/adsync PERMISSIONS ${_conf_perms}
        COMPONENT coordinator EXCLUDE_FROM_ALL)
install(FILES ${_pkg_bin}/man/adsync-coordinator.8.gz
        DESTINATION share/man/man8 PERMISSIONS ${_conf_perms}
        COMPONENT coordinator EXCLUDE_FROM_ALL)
install(FILES ${_pkg_bin}/man/adsyncctl.1.gz
        DESTINATION share/man/man1 PERMISSIONS ${_conf_perms}
        COMPONENT coordinator EXCLUDE_FROM_ALL)
install(FILES ${_pkg_src}/copyright
              ${_pkg_bin}/adsync-coordinator/changelog.Debian.gz
        DESTINATION share/doc/adsync-coordinator PERMISSIONS ${_conf_perms}
        COMPONENT coordinator EXCLUDE_FROM_ALL)
install(FILES ${_pkg_src}/adsync-coordinator.lintian-overrides
        DESTINATION share/lintian/overrides RENAME adsync-coordinator
        PERMISSIONS ${_conf_perms} COMPONENT coordinator EXCLUDE_FROM_ALL)

# --- CPack ------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME adsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "adsync")
set(CPACK_PACKAGE_CONTACT
    "adsync maintainers <maintainers@users.noreply.r-seed-92cca5cb.example>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)                  # the binaries: no debug info
set(CPACK_COMPONENTS_ALL agent coordinator)
set(CPACK_DEB_COMPONENT_INSTALL ON)        # one .deb per component
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)    # NAME_VERSION-RELEASE_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE ${ADSYNC_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from dpkg-shlibdeps (the libraries the binaries really link),
# plus adduser for the postinst (deb-systemd-helper's init-system-helpers
# is Essential in Debian 12).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# Maintainer scripts 0755, conffiles 0644, as lintian wants.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME adsync-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${_pkg_bin}/adsync-agent/control/postinst
    ${_pkg_bin}/adsync-agent/control/prerm
    ${_pkg_bin}/adsync-agent/control/postrm
    ${_pkg_bin}/adsync-agent/control/conffiles)
# (CPack indents the description's lines itself.)
set(CPACK_DEBIAN_AGENT_DESCRIPTION
"Active Directory agent for adsync (AD to K12Panel identity sync)
The adsync agent runs next to one Active Directory domain controller,
reads its user accounts over LDAP (LDAPS or StartTLS, simple or GSSAPI
bind), follows their changes and streams them over TLS to the adsync
coordinator, which maps Windows logins to K12Panel People.
.
This package runs it as the system user adsync from a hardened systemd
unit (not enabled until configured) and ships an example configuration
in /etc/adsync.")

set(CPACK_DEBIAN_COORDINATOR_PACKAGE_NAME adsync-coordinator)
set(CPACK_DEBIAN_COORDINATOR_PACKAGE_CONTROL_EXTRA
    ${_pkg_bin}/adsync-coordinator/control/postinst
    ${_pkg_bin}/adsync-coordinator/control/prerm
    ${_pkg_bin}/adsync-coordinator/control/postrm
    ${_pkg_bin}/adsync-coordinator/control/conffiles)
set(CPACK_DEBIAN_COORDINATOR_DESCRIPTION
"coordinator of adsync (AD to K12Panel identity sync)
The adsync coordinator receives Active Directory account changes from
adsync agents, stores them in SQLite (or PostgreSQL, for several
coordinators), deduplicates them across controllers and domains, matches
them to K12Panel People by email and pushes the mappings to K12Panel.
.
This package runs it as the system user adsync from a hardened systemd
unit (not enabled until configured), with its SQLite store in
/var/lib/adsync, ships an example configuration in /etc/adsync and the
administration tool adsyncctl.")

include(CPack)
