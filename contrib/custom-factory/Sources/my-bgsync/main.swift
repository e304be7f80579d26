import BGSync

await BGSyncCLI.main(factories: [GreetingsFactory()])
