# The Debian package `tillid` (CPack DEB): tillidd and tillid, the systemd units, the sysusers
# and tmpfiles snippets, the example configuration as a conffile, and the specs as docs.
# Included once from the top CMakeLists.txt, after every part's add_subdirectory(), so the
# targets tillidd (firmware/) and tillid (tools/) exist and install themselves to bin/.
# Build the package with `cpack -G DEB` in the build directory (README.md, "Install the
# appliance"); tests/package/install-deb-test.sh installs it into a clean Debian 12 root.
include_guard(GLOBAL)

set(_tillid_systemd ${CMAKE_CURRENT_LIST_DIR}/../systemd)
set(_tillid_debian ${CMAKE_CURRENT_LIST_DIR}/debian)

# Where Debian 12 puts these (not under CMAKE_INSTALL_PREFIX): units in /lib/systemd/system as
# every bookworm package does (the /usr-merge moratorium), sysusers/tmpfiles in /usr/lib, the
# configuration in /etc. CPACK_SET_DESTDIR below makes CPack stage these absolute paths too.
install(FILES ${_tillid_systemd}/tillidd.service ${_tillid_systemd}/tillidd.socket
        DESTINATION /lib/systemd/system)
install(FILES ${_tillid_systemd}/sysusers.d/tillid.conf DESTINATION /usr/lib/sysusers.d)
install(FILES ${_tillid_systemd}/tmpfiles.d/tillid.conf DESTINATION /usr/lib/tmpfiles.d)
# Readable by the daemon's user; it holds no secret (an unlock credential is a reference to
# /etc/credstore.encrypted, never the passphrase).
install(FILES ${_tillid_systemd}/tillidd.toml DESTINATION /etc/tillid
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The documentation a site needs offline: the specs a court expert or an auditor reads, and how
# to run the appliance. Several folders have a README.md, so each is renamed after its part.
set(_tillid_docdir share/doc/tillid)
set(_tillid_docs
    README.md:README.md
    firmware/README.md:README.firmware.md
    firmware/systemd/README.md:README.systemd.md
    capture/README.md:README.capture.md
    firmware/CONFIG.md:CONFIG.md
    firmware/AUTHZ.md:AUTHZ.md
    firmware/CONTROL-PROTOCOL.md:CONTROL-PROTOCOL.md
    vault/FORMAT.md:FORMAT.md
    vault/LOG-FORMAT.md:LOG-FORMAT.md
    vault/EXPORT-FORMAT.md:EXPORT-FORMAT.md)
foreach(_doc IN LISTS _tillid_docs)
  string(REPLACE ":" ";" _pair "${_doc}")
  list(GET _pair 0 _src)
  list(GET _pair 1 _dst)
  # A part's document joins the package when the part has landed; the package test checks the
  # full list, so a missing one fails there rather than shipping quietly without it.
  if(EXISTS ${PROJECT_SOURCE_DIR}/${_src})
    install(FILES ${PROJECT_SOURCE_DIR}/${_src} DESTINATION ${_tillid_docdir} RENAME ${_dst})
  endif()
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tillid)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Tillid maintainers <tillid@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "encrypted interview recorder and evidence vault for child advocacy centres")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Tillid records forensic interviews of children, encrypts them as they are captured and
keeps them with the case's documents in an encrypted vault whose every access is logged in a
tamper-evident log. This package holds the appliance daemon tillidd, its client tillid and
the systemd units that run tillidd as the unprivileged, sandboxed user tillid.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tillid_<version>_<arch>.deb
# Runtime libraries from dpkg-shlibdeps (dpkg-dev), so the list follows what is linked.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst falls back to useradd (passwd) where systemd-sysusers is absent, e.g. in a chroot.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# Staged with DESTDIR so the absolute destinations above land in the package too; the binaries
# and docs go under /usr whatever CMAKE_INSTALL_PREFIX a developer build uses.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# RelWithDebInfo binaries are ~60 MiB of DWARF; the appliance gets stripped ones.
set(CPACK_STRIP_FILES ON)
# conffiles: dpkg keeps a site's edited /etc/tillid/tillidd.toml across upgrades.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_tillid_debian}/conffiles ${_tillid_debian}/postinst ${_tillid_debian}/prerm
    ${_tillid_debian}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what the install rules name; no source package, no test binaries (none install).
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
