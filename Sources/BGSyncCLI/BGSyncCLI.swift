import ArgumentParser
import BGSyncJobs

/// Entry point of the `bgsync` executable, and of custom builds that add factories written in
/// Swift:
///
/// ```swift
/// // main.swift of your own package
/// import BGSync
/// await BGSyncCLI.main(factories: [MyFactory()])
/// ```
public enum BGSyncCLI {
    /// Parses the process's arguments and runs the command, with `factories` available to job
    /// files (registry entries of `kind = "swift"`, or factory names absent from the registry).
    public static func main(factories: [any ReplicatorFactory] = []) async {
        // A child (hook, exec factory) that does not read its stdin must not kill bgsync: writing
        // to its pipe then fails with EPIPE instead of raising SIGPIPE.
        _ = ChildProcess.ignoreSIGPIPE
        CompiledFactories.register(factories)
        await BGSyncCommand.main()
    }
}
