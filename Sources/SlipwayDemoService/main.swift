// slipway-demo-service: a small HTTP service for Slipway's demo and tests.
//
//   GET /healthz  200 "ok" (503 with --fail-health)
//   GET /         200 "<service> <version>" (a deterministic share of 500s with --error-rate)
//                 --leak-kb-per-request N keeps N KiB per request to / (a leak);
//                 --burn-ms-per-request N spins a core N ms per request to / (a CPU hog)
//   GET /metrics  Prometheus text: demo_orders_total and demo_orders_failed_total{version}, a
//                 business metric: each request to / is an order, and --order-failure-rate of
//                 them fail while the answer is still 200 (what HTTP counters cannot see)
//
// Each flag can also come from the environment (DEMO_FAIL_HEALTH=1, DEMO_ERROR_RATE=0.2, …),
// so a manifest can switch behaviour through `run.env`.
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var host = "127.0.0.1"
    var port = 8000
    var version = "0.0.0"
    var service = "web"
    var failHealth = false
    /// Health starts failing this long after start (0: never).
    var failHealthAfterMilliseconds = 0
    var errorRate = 0.0
    var orderFailureRate = 0.0
    var leakKilobytesPerRequest = 0
    var burnMillisecondsPerRequest = 0
    var latencyMilliseconds = 0
    var crashAtStart = false
    var startDelayMilliseconds = 0
    /// Environment variables to print at start (tests use it to check that Slipway redacts secrets).
    var logEnvironment: [String] = []

    static let usage = """
        usage: slipway-demo-service --port N [--host H] [--version V] [--service NAME]
                                    [--fail-health] [--fail-health-after-ms N] [--error-rate 0.2] [--order-failure-rate 0.3] [--latency-ms 300]
                                    [--leak-kb-per-request 64] [--burn-ms-per-request 20]
                                    [--crash-at-start] [--start-delay-ms 2000] [--log-env NAME]
        """

    init(arguments: [String], environment: [String: String]) throws {
        func flag(_ name: String) -> String? { environment["DEMO_" + name] }
        if let value = flag("FAIL_HEALTH") { failHealth = value == "1" || value == "true" }
        if let value = flag("ERROR_RATE").flatMap(Double.init) { errorRate = value }
        if let value = flag("ORDER_FAILURE_RATE").flatMap(Double.init) { orderFailureRate = value }
        if let value = flag("LEAK_KB_PER_REQUEST").flatMap(Int.init) { leakKilobytesPerRequest = value }
        if let value = flag("BURN_MS_PER_REQUEST").flatMap(Int.init) { burnMillisecondsPerRequest = value }
        if let value = flag("LATENCY_MS").flatMap(Int.init) { latencyMilliseconds = value }
        if let value = flag("CRASH_AT_START") { crashAtStart = value == "1" || value == "true" }
        if let value = flag("START_DELAY_MS").flatMap(Int.init) { startDelayMilliseconds = value }
        if let value = environment["PORT"].flatMap(Int.init) { port = value }

        var rest = arguments.dropFirst()[...]
        func value(_ name: String) throws -> String {
            guard let next = rest.popFirst() else { throw UsageError("\(name) needs a value") }
            return next
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--host": host = try value(argument)
            case "--port": port = try Int(value(argument)) ?? { throw UsageError("--port needs a number") }()
            case "--version": version = try value(argument)
            case "--service": service = try value(argument)
            case "--fail-health": failHealth = true
            case "--fail-health-after-ms": failHealthAfterMilliseconds = try Int(value(argument)) ?? { throw UsageError("--fail-health-after-ms needs a number") }()
            case "--error-rate": errorRate = try Double(value(argument)) ?? { throw UsageError("--error-rate needs a number") }()
            case "--leak-kb-per-request": leakKilobytesPerRequest = try Int(value(argument)) ?? { throw UsageError("--leak-kb-per-request needs a number") }()
            case "--burn-ms-per-request": burnMillisecondsPerRequest = try Int(value(argument)) ?? { throw UsageError("--burn-ms-per-request needs a number") }()
            case "--order-failure-rate": orderFailureRate = try Double(value(argument)) ?? { throw UsageError("--order-failure-rate needs a number") }()
            case "--latency-ms": latencyMilliseconds = try Int(value(argument)) ?? { throw UsageError("--latency-ms needs a number") }()
            case "--crash-at-start": crashAtStart = true
            case "--start-delay-ms": startDelayMilliseconds = try Int(value(argument)) ?? { throw UsageError("--start-delay-ms needs a number") }()
            case "--log-env": logEnvironment.append(try value(argument))
            case "-h", "--help":
                print(Options.usage)
                exit(0)
            default: throw UsageError("unknown argument \(argument)")
            }
        }
    }
}

struct UsageError: Error { let message: String; init(_ message: String) { self.message = message } }

/// Counts requests to `/` so that the 5xx share is exact rather than random.
final class Counter: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var requests = 0
    private var active = 0
    private(set) var orders = 0
    private(set) var failedOrders = 0

    func nextRequestFails(rate: Double) -> Bool {
        lock.lock(); defer { lock.unlock() }
        requests += 1
        return floor(Double(requests) * rate) > floor(Double(requests - 1) * rate)
    }

    /// Counts an order, failed at the deterministic share `rate`.
    func order(failureRate rate: Double) {
        lock.lock(); defer { lock.unlock() }
        orders += 1
        if floor(Double(orders) * rate) > floor(Double(orders - 1) * rate) { failedOrders += 1 }
    }

    /// Memory kept for good, touched so that it is resident.
    private var leaked: [[UInt8]] = []
    func leak(kilobytes: Int) {
        lock.lock(); defer { lock.unlock() }
        leaked.append([UInt8](repeating: 0x5a, count: kilobytes * 1024))
    }

    var orderCounts: (orders: Int, failed: Int) { lock.lock(); defer { lock.unlock() }; return (orders, failedOrders) }

    func begin() { lock.lock(); active += 1; lock.unlock() }
    func end() { lock.lock(); active -= 1; lock.unlock() }
    var inFlight: Int { lock.lock(); defer { lock.unlock() }; return active }
}

/// Spins this thread until it has used `milliseconds` of CPU time (CPU, not wall time: on a busy
/// machine the cost per request stays the same).
func burn(milliseconds: Int) {
    func cpuNanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }
    let end = cpuNanoseconds() + milliseconds * 1_000_000
    var spin = 0.0
    while cpuNanoseconds() < end { spin += sin(spin) }
    if spin.isNaN { log("unreachable") }
}

func log(_ message: String) {
    FileHandle.standardOutput.write(Data("\(ISO8601DateFormatter().string(from: Date())) \(message)\n".utf8))
}

func respond(_ fd: Int32, status: Int, body: String) {
    let reason = [200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"][status] ?? "Status"
    let text = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
}

func handle(_ fd: Int32, options: Options, counter: Counter) {
    defer { close(fd) }
    counter.begin()
    defer { counter.end() }
    var buffer = [UInt8](repeating: 0, count: 8192)
    var received = 0
    while received < buffer.count {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, $0.count - received, 0) }
        guard count > 0 else { return }
        received += count
        if buffer[..<received].windows(ofCount: 4).contains(where: { Array($0) == [13, 10, 13, 10] }) { break }
    }
    let requestLine = String(decoding: buffer[..<received].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    let parts = requestLine.split(separator: " ")
    guard parts.count >= 2 else { return respond(fd, status: 400, body: "bad request\n") }
    let path = parts[1].split(separator: "?").first.map(String.init) ?? "/"
    switch path {
    case "/healthz":
        let late = options.failHealthAfterMilliseconds > 0 && Date().timeIntervalSince(started) * 1000 > Double(options.failHealthAfterMilliseconds)
        if options.failHealth || late { return respond(fd, status: 503, body: "unhealthy\n") }
        respond(fd, status: 200, body: "ok\n")
    case "/":
        if options.latencyMilliseconds > 0 { usleep(useconds_t(options.latencyMilliseconds * 1000)) }
        if counter.nextRequestFails(rate: options.errorRate) {
            return respond(fd, status: 500, body: "\(options.service) \(options.version) failed\n")
        }
        counter.order(failureRate: options.orderFailureRate)
        if options.leakKilobytesPerRequest > 0 { counter.leak(kilobytes: options.leakKilobytesPerRequest) }
        if options.burnMillisecondsPerRequest > 0 { burn(milliseconds: options.burnMillisecondsPerRequest) }
        respond(fd, status: 200, body: "\(options.service) \(options.version)\n")
    case "/metrics":
        let (orders, failed) = counter.orderCounts
        let labels = "{service=\"\(options.service)\",version=\"\(options.version)\"}"
        respond(fd, status: 200, body: """
            # HELP demo_orders_total Orders taken (requests to /).
            # TYPE demo_orders_total counter
            demo_orders_total\(labels) \(orders)
            # HELP demo_orders_failed_total Orders that failed, though the request was answered 200.
            # TYPE demo_orders_failed_total counter
            demo_orders_failed_total\(labels) \(failed)

            """)
    default:
        respond(fd, status: 404, body: "not found\n")
    }
}

extension ArraySlice {
    func windows(ofCount count: Int) -> [ArraySlice<Element>] {
        guard self.count >= count else { return [] }
        return (startIndex...(endIndex - count)).map { self[$0..<($0 + count)] }
    }
}

/// Accepts connections until SIGTERM, then finishes the requests in flight and exits.
/// Not top-level code: that would be main-actor isolated, and the handlers run elsewhere.
func serve(_ options: Options) -> Never {
    signal(SIGPIPE, SIG_IGN)
    let server = listenSocket(host: options.host, port: options.port)
    let counter = Counter()
    let queue = DispatchQueue(label: "requests", attributes: .concurrent)

    signal(SIGTERM, SIG_IGN)
    let termination = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
    termination.setEventHandler {
        log("SIGTERM: no longer accepting; finishing \(counter.inFlight) request(s)")
        shutdown(server, Int32(SHUT_RDWR))
        let deadline = Date().addingTimeInterval(5)
        while counter.inFlight > 0 && Date() < deadline { usleep(10_000) }
        log("stopped")
        exit(0)
    }
    termination.resume()
    log("listening")

    while true {
        let client = accept(server, nil, nil)
        if client < 0 {
            if errno == EINTR { continue }
            usleep(100_000)  // shutting down: the signal handler exits the process
            continue
        }
        queue.async { handle(client, options: options, counter: counter) }
    }
}

func listenSocket(host: String, port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var yes: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 1024) == 0 else {
        log("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
        exit(1)
    }
    return fd
}

let started = Date()
let options: Options
do {
    options = try Options(arguments: CommandLine.arguments, environment: ProcessInfo.processInfo.environment)
} catch let error as UsageError {
    FileHandle.standardError.write(Data("slipway-demo-service: \(error.message)\n\(Options.usage)\n".utf8))
    exit(2)
}

log("starting \(options.service) \(options.version) on \(options.host):\(options.port)")
for name in options.logEnvironment {
    log("\(name)=\(ProcessInfo.processInfo.environment[name] ?? "")")
}
if options.crashAtStart {
    log("crashing at start as asked (--crash-at-start)")
    exit(3)
}
if options.startDelayMilliseconds > 0 { usleep(useconds_t(options.startDelayMilliseconds * 1000)) }

serve(options)
