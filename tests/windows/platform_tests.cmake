# The Windows agent's service, secret-file and event-log tests, run under
# Wine against the cross-compiled adsync-agent.exe (tests/windows/
# windows_platform_test.cc). Included by tests/windows/CMakeLists.txt.
add_executable(windows_platform_test
  ${CMAKE_CURRENT_LIST_DIR}/windows_platform_test.cc)
target_compile_options(windows_platform_test PRIVATE ${ADSYNC_WARNINGS})
target_link_libraries(windows_platform_test adsync_windows_test_support
  adsync_test_util GTest::gtest_main GTest::gmock)
# Built beside the agent (agent/CMakeLists.txt): the file rule on SDDL.
target_compile_definitions(windows_platform_test PRIVATE
  ADSYNC_PRIVATE_FILE_CHECK_EXE="${ADSYNC_WINDOWS_BUILD_DIR}/agent/private_file_check_test.exe")
add_test(NAME windows_platform_test COMMAND windows_platform_test)
set_tests_properties(windows_platform_test PROPERTIES LABELS windows
  TIMEOUT 600)
