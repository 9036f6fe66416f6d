import Testing
@testable import TernServer

/// `include_dir`: which files, in which order, and how problems in them are reported.
@Suite struct IncludeDirectoryTests {
    @Test func filesAreReadInMosquittosOrderAtThatPoint() throws {
        let directory = try ConfigurationDirectory()
        // mosquitto.conf(5)'s example: b.conf, A.conf, 01.conf, a.conf, B.conf and 00.conf load as
        // 00, 01, A, a, B, b. Each file opens a listener, so the listener order shows the reading order.
        let names = ["b", "A", "01", "a", "B", "00"]
        for (index, name) in names.enumerated() {
            try directory.write("conf.d/\(name).conf", "listener \(2000 + index)\n")
        }
        try directory.write("conf.d/notes.txt", "listener 9999\n")
        try directory.write("conf.d/.conf", "listener 9998\n")
        try directory.write("conf.d/old.conf.bak", "listener 9997\n")
        let (configuration, warnings) = try directory.load(text: """
            listener 1883
            include_dir conf.d
            listener 1999
            """)
        #expect(warnings.isEmpty)
        let order = ["00", "01", "A", "a", "B", "b"]
        #expect(configuration.listeners.map(\.port)
            == [1883] + order.map { 2000 + names.firstIndex(of: $0)! } + [1999])
        #expect(configuration.files == ["mosquitto.conf"] + order.map { "conf.d/\($0).conf" })
    }

    @Test func mosquittosOrderComparesWithoutCaseFirstThenUpperCaseFirst() {
        let sorted = ["b.conf", "_x.conf", "a_.conf", "Z.conf", "aa.conf", "a.conf", "~t.conf", "z.conf", "A.conf"]
            .sorted(by: ConfigurationFiles.mosquittoOrder)
        // As Mosquitto 2.0.11 loads them.
        #expect(sorted == ["A.conf", "a.conf", "aa.conf", "a_.conf", "b.conf", "Z.conf", "z.conf", "_x.conf", "~t.conf"])
    }

    @Test func severalDirectoriesAreEachReadWholeInTurn() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("one.d/B.conf", "listener 2\n")
        try directory.write("one.d/C.conf", "listener 3\n")
        try directory.write("two.d/A.conf", "listener 1\n")
        try directory.write("two.d/D.conf", "listener 4\n")
        let configuration = try directory.configuration("include_dir one.d\ninclude_dir two.d/\n")
        #expect(configuration.listeners.map(\.port) == [2, 3, 1, 4])
        #expect(configuration.files == ["mosquitto.conf", "one.d/B.conf", "one.d/C.conf", "two.d/A.conf", "two.d/D.conf"])
    }

    @Test func settingsInIncludedFilesApplyAsIfWrittenThere() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/limits.conf", "max_queued_messages 100\nallow_anonymous true\n")
        try directory.write("conf.d/zz-override.conf", "max_queued_messages 200\n")
        let configuration = try directory.configuration("""
            listener 1883
            max_queued_messages 50
            include_dir conf.d
            """)
        #expect(configuration.maxQueuedMessages == 200)
        #expect(configuration.security.allowAnonymous)
    }

    @Test func problemsInAnIncludedFileNameThatFile() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/a.conf", "listener 1883\n")
        try directory.write("conf.d/b.conf", "# limits\n\nmax_inflight_messages twenty\n")
        #expect(try directory.error("include_dir conf.d\n")
            == #"conf.d/b.conf:3: max_inflight_messages: "twenty" is not a number"#)
        try directory.write("conf.d/b.conf", "frobnicate 1\n")
        #expect(try directory.warnings("include_dir conf.d\n") == ["conf.d/b.conf:1: frobnicate: unknown setting; ignored"])
    }

    @Test func includeDirIsOnlyReadFromTheMainFile() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/a.conf", "include_dir more.d\nlistener 1883\n")
        try directory.write("more.d/b.conf", "listener 1884\n")
        let (configuration, warnings) = try directory.load(text: "include_dir conf.d\n")
        #expect(configuration.listeners.map(\.port) == [1883])
        #expect(warnings.map(\.description) == [
            "conf.d/a.conf:1: include_dir: only read in the main configuration file, as Mosquitto does; ignored",
        ])
    }

    @Test func aMissingDirectoryIsAnError() throws {
        let directory = try ConfigurationDirectory()
        #expect(try directory.error("listener 1883\ninclude_dir absent.d\n")
            == #"mosquitto.conf:2: include_dir: cannot read the directory "absent.d": No such file or directory"#)
        #expect(try directory.error("include_dir\n") == "mosquitto.conf:1: include_dir: missing value")
    }

    @Test func anEmptyDirectoryAddsNothing() throws {
        let directory = try ConfigurationDirectory()
        try directory.makeDirectory("conf.d")
        let configuration = try directory.configuration("include_dir conf.d\n")
        #expect(configuration.isLocalOnly)
        #expect(configuration.files == ["mosquitto.conf"])
    }

    @Test func theDirectoryMustNotHoldTheMainFile() throws {
        let directory = try ConfigurationDirectory()
        try directory.write("conf.d/mosquitto.conf", "listener 1883\ninclude_dir conf.d\n")
        #expect(throws: ConfigurationDiagnostic(file: "conf.d/mosquitto.conf", line: 2,
                                               message: #"include_dir: "conf.d" holds the main configuration file, which "#
                                                   + "would be read twice")) {
            try directory.load("conf.d/mosquitto.conf")
        }
    }
}
