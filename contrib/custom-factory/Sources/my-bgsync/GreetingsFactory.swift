import BGSync

/// A factory compiled into this build: it derives both database paths from the job's input,
/// the way an application would compute them from its own settings.
struct GreetingsFactory: ReplicatorFactory {
    let name = "greetings"

    func makeConfiguration(input: JSONObject) throws -> ReplicatorConfiguration {
        guard let directory = input["directory"]?.stringValue, directory.hasPrefix("/") else {
            throw FactoryInputError(message: "[input] directory must be an absolute path")
        }
        let user = input["user"]?.stringValue ?? "guest"
        var configuration = ReplicatorConfiguration(
            database: "\(directory)/\(user)-device.sqlite",
            remote: .file("\(directory)/\(user)-hub.sqlite"),
            direction: .pullAndPush)
        configuration.batchSize = 100
        configuration.pushFilter = .sqlWhere("json_extract(body, '$.kind') = 'greeting'")
        // Greetings edited on two devices are merged (GreetingsMerger.swift), not kept as conflicts.
        configuration.conflictResolver = GreetingsMerger()
        return configuration
    }
}

struct FactoryInputError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
