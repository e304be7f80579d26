import BGSyncCLI

await BGSyncCLI.main()
