# The Windows agent's MSI: its tables (msiinfo) and an install, upgrade and
# uninstall under Wine. Included from tests/windows/CMakeLists.txt, after
# adsync_windows_test_support. Needs wine, msitools and wixl (the upgrade
# test builds a newer MSI with scripts/build_windows_msi.sh).
add_executable(windows_msi_test ${CMAKE_CURRENT_LIST_DIR}/msi_test.cc)
target_compile_options(windows_msi_test PRIVATE ${ADSYNC_WARNINGS})
target_link_libraries(windows_msi_test adsync_windows_test_support
  adsync_test_util GTest::gtest_main)
add_test(NAME windows_msi_test COMMAND windows_msi_test)
set_tests_properties(windows_msi_test PROPERTIES LABELS windows TIMEOUT 600)
