public import Foundation

/// Everything needed to start one instance: a value, built and tested apart from spawning.
public struct LaunchSpec: Sendable, Hashable {
    /// argv; `arguments[0]` is resolved with `ExecutableResolver` before spawning.
    public var arguments: [String]
    /// The complete environment of the process (nothing is inherited implicitly).
    public var environment: [String: String]
    public var workingDirectory: URL
    /// stdout and stderr are appended here.
    public var logFile: URL
    /// stdin; /dev/null when nil.
    public var input: URL?

    public init(arguments: [String], environment: [String: String], workingDirectory: URL, logFile: URL, input: URL? = nil) {
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.logFile = logFile
        self.input = input
    }
}

/// Finds the program to run: paths with a `/` are taken relative to the working directory;
/// bare names are looked up in `searchPath`.
public struct ExecutableResolver: Sendable {
    public var searchPath: [URL]

    public init(searchPath: [URL]) { self.searchPath = searchPath }

    /// `PATH` of this process plus `extra` directories (searched first).
    public static func standard(extra: [URL] = []) -> ExecutableResolver {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return ExecutableResolver(searchPath: extra + path.split(separator: ":").map { URL(fileURLWithPath: String($0)) })
    }

    /// Why `program` does not resolve, for an error: not there, or there but not a program.
    public func problem(with program: String, in directory: URL) -> String {
        let fileManager = FileManager.default
        let candidates = program.contains("/")
            ? [program.hasPrefix("/") ? URL(fileURLWithPath: program) : directory.appendingPathComponent(program)]
            : searchPath.map { $0.appendingPathComponent(program) }
        var isDirectory: ObjCBool = false
        if let present = candidates.first(where: { fileManager.fileExists(atPath: $0.path, isDirectory: &isDirectory) }) {
            return isDirectory.boolValue ? "\(present.path) is a folder, not a program"
                : "\(present.path) is not executable (chmod +x it, or name the program that runs it)"
        }
        return program.contains("/") ? "program \"\(program)\" not found"
            : "program \"\(program)\" not found (looked in \(searchPath.map(\.path).joined(separator: ":")))"
    }

    public func resolve(_ program: String, in directory: URL) -> URL? {
        let fileManager = FileManager.default
        if program.contains("/") {
            let url = program.hasPrefix("/") ? URL(fileURLWithPath: program) : directory.appendingPathComponent(program)
            return fileManager.isExecutableFile(atPath: url.path) ? url.standardizedFileURL : nil
        }
        // Paths joined as text, first match wins: planning asks this for every environment.
        for directory in searchPath {
            let path = directory.path.hasSuffix("/") ? directory.path + program : directory.path + "/" + program
            if fileManager.isExecutableFile(atPath: path) { return URL(fileURLWithPath: path) }
        }
        return nil
    }
}
