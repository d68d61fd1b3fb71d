package dev.jepd.tensor.torch;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Finds a libtorch, in this order: an explicit directory ({@code --torch-library-path}, which the CLI hands
 * over as the system property {@value #PATH_PROPERTY}, else the environment variable {@value #PATH_ENV});
 * the torch of the Python named by {@value #PYTHON_ENV}; else the CPU libtorch inside the
 * {@code ai.djl.pytorch:pytorch-native-cpu} jar on the classpath, whose {@code .so} files are extracted once
 * into a cache directory ({@value #CACHE_PROPERTY} / {@value #CACHE_ENV}, default DJL's cache, see
 * {@link #cacheRoot}). Nothing is downloaded. Independent of the tensor SPI.
 */
public final class LibTorchLocator {
    public static final String PATH_PROPERTY = "jepd.torch.library.path";
    public static final String PATH_ENV = "JEPD_TORCH_LIBRARY_PATH";
    public static final String PYTHON_ENV = "JEPD_PYTHON";
    public static final String CACHE_PROPERTY = "jepd.torch.cache.dir";
    public static final String CACHE_ENV = "JEPD_TORCH_CACHE_DIR";

    /** Where the embedded jar keeps its metadata and its libraries (DJL's layout). */
    private static final String EMBEDDED_PROPERTIES = "native/lib/pytorch.properties";

    private LibTorchLocator() {}

    /** The first libtorch the lookup order finds; one clear line when there is none. */
    public static LibTorchLocation locate() {
        String prop = System.getProperty(PATH_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return fromDirectory(Path.of(prop), "--torch-library-path");
        }
        String env = System.getenv(PATH_ENV);
        if (env != null && !env.isBlank()) {
            return fromDirectory(Path.of(env), PATH_ENV);
        }
        String python = System.getenv(PYTHON_ENV);
        if (python != null && !python.isBlank()) {
            return fromPython(python);
        }
        return embedded();
    }

    /** A directory holding {@code libtorch_cpu.so} (a libtorch zip's {@code lib/} or a wheel's {@code torch/lib}). */
    static LibTorchLocation fromDirectory(Path dir, String source) {
        Path d = dir.toAbsolutePath().normalize();
        if (Files.isRegularFile(d.resolve("lib").resolve("libtorch_cpu.so"))) {
            d = d.resolve("lib"); // the libtorch distribution's top directory was named
        }
        if (!Files.isRegularFile(d.resolve("libtorch_cpu.so"))) {
            throw new LibTorchUnavailableException(
                    "no libtorch_cpu.so in " + d + " (from " + source + "): name the directory that holds it");
        }
        return new LibTorchLocation(d, versionNextTo(d), source);
    }

    /** The torch package of a Python interpreter: {@code <torch>/lib}, version from {@code torch.__version__}. */
    static LibTorchLocation fromPython(String python) {
        String script = "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__)";
        List<String> lines;
        try {
            Process p = new ProcessBuilder(python, "-c", script)
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new LibTorchUnavailableException(
                        PYTHON_ENV + "=" + python + " cannot import torch (run: " + python + " -c 'import torch')");
            }
            lines = new String(out, StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            throw new LibTorchUnavailableException(PYTHON_ENV + "=" + python + " does not run: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LibTorchUnavailableException("interrupted while asking " + python + " for its torch", e);
        }
        if (lines.size() < 2) {
            throw new LibTorchUnavailableException(PYTHON_ENV + "=" + python + " printed no torch location");
        }
        Path lib = Path.of(lines.get(0).strip()).resolve("lib");
        LibTorchLocation found = fromDirectory(lib, PYTHON_ENV + "=" + python);
        return new LibTorchLocation(found.libDir(), lines.get(1).strip(), found.source());
    }

    /** The CPU libtorch of the {@code pytorch-native-cpu} jar, extracted once into the cache directory. */
    static LibTorchLocation embedded() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new LibTorchUnavailableException("the embedded libtorch is for linux-x86_64 only (this is " + os + "/"
                    + arch + "): set " + PATH_ENV + " or " + PYTHON_ENV);
        }
        ClassLoader cl = LibTorchLocator.class.getClassLoader();
        Properties props = new Properties();
        try (InputStream in = cl.getResourceAsStream(EMBEDDED_PROPERTIES)) {
            if (in == null) {
                throw new LibTorchUnavailableException("no libtorch found: set " + PATH_ENV + " or " + PYTHON_ENV
                        + ", or put ai.djl.pytorch:pytorch-native-cpu:linux-x86_64 on the classpath");
            }
            props.load(in);
        } catch (IOException e) {
            throw new LibTorchUnavailableException("cannot read " + EMBEDDED_PROPERTIES + ": " + e.getMessage(), e);
        }
        String version = props.getProperty("version", "unknown");
        String flavor = props.getProperty("flavor", "cpu");
        String classifier = props.getProperty("classifier", "linux-x86_64");
        String[] libraries = props.getProperty("libraries", "").split(",");
        String numeric = version.contains("-") ? version.substring(0, version.indexOf('-')) : version;
        Path dir = cacheRoot().toAbsolutePath().normalize().resolve(version + "-" + flavor + "-" + classifier);
        if (!Files.isRegularFile(dir.resolve("libtorch_cpu.so"))) {
            extract(cl, "pytorch/" + flavor + "/" + classifier + "/", libraries, dir);
        }
        return new LibTorchLocation(dir, numeric, "embedded pytorch-native-cpu " + version);
    }

    /**
     * Where the embedded libraries go. Without {@value #CACHE_PROPERTY} / {@value #CACHE_ENV}, DJL's own cache
     * ({@code DJL_CACHE_DIR}, default {@code ~/.djl.ai}) under {@code pytorch/}, in DJL's directory layout: a
     * JVM that also runs DJL's backend then maps the very same files, and the dynamic linker keeps one
     * libtorch (two copies of libtorch_cpu in one process abort it when the second registers its ops).
     */
    private static Path cacheRoot() {
        String prop = System.getProperty(CACHE_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        String env = System.getenv(CACHE_ENV);
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        String djl = System.getProperty("DJL_CACHE_DIR", System.getenv("DJL_CACHE_DIR"));
        if (djl != null && !djl.isBlank()) {
            return Path.of(djl, "pytorch");
        }
        return Path.of(System.getProperty("user.home"), ".djl.ai", "pytorch");
    }

    /**
     * The {@code libtorch_cpu.so} this process has already mapped (by DJL, or by an earlier backend), read from
     * {@code /proc/self/maps}: a second copy must not be loaded next to it.
     */
    static Optional<Path> alreadyLoaded() {
        Path maps = Path.of("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return Optional.empty();
        }
        try (Stream<String> lines = Files.lines(maps)) {
            return lines.map(l -> l.indexOf('/') < 0
                            ? ""
                            : l.substring(l.indexOf('/')).strip())
                    .filter(p -> p.endsWith("/libtorch_cpu.so"))
                    .findFirst()
                    .map(Path::of);
        } catch (IOException | UncheckedIOException e) {
            return Optional.empty();
        }
    }

    /**
     * Copies the libraries into a fresh sibling directory, then renames it into place, so a reader never sees
     * a half-written libtorch and two JVMs extracting at once both end up with a whole one.
     */
    static void extract(ClassLoader cl, String prefix, String[] libraries, Path dir) {
        Path tmp = null;
        try {
            Files.createDirectories(dir.getParent());
            tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".part");
            for (String lib : libraries) {
                String name = lib.strip();
                if (name.isEmpty()) {
                    continue;
                }
                try (InputStream in = cl.getResourceAsStream(prefix + name)) {
                    if (in == null) {
                        throw new LibTorchUnavailableException("the embedded libtorch jar lacks " + prefix + name);
                    }
                    Files.copy(in, tmp.resolve(name));
                }
            }
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileSystemException e) {
                // Another JVM renamed its copy into place first. An atomic rename onto a non-empty directory fails
                // with ENOTEMPTY, which the JDK reports as a plain FileSystemException ("Directory not empty"), not as
                // DirectoryNotEmptyException: take the other copy whatever the exception's class.
                if (!Files.isRegularFile(dir.resolve("libtorch_cpu.so"))) {
                    throw e;
                }
            }
        } catch (IOException e) {
            throw new LibTorchUnavailableException(
                    "cannot extract the embedded libtorch into " + dir + ": " + e + " (set " + CACHE_ENV + ")", e);
        } finally {
            if (tmp != null && Files.exists(tmp)) {
                deleteTree(tmp);
            }
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temporary directory costs disk space only
        }
    }

    /** The version of the libtorch in {@code libDir}: from its version file, or DJL's {@code 2.7.1-...} directory name. */
    static String versionOf(Path libDir) {
        String v = versionNextTo(libDir);
        Path name = libDir.getFileName();
        if (v.equals("unknown") && name != null && name.toString().matches("\\d+\\.\\d+\\.\\d+-.*")) {
            return name.toString().substring(0, name.toString().indexOf('-'));
        }
        return v;
    }

    /** {@code torch/version.py} of a wheel ({@code torch/lib/..}) or {@code build-version} of a libtorch zip. */
    private static String versionNextTo(Path libDir) {
        Path parent = libDir.getParent();
        if (parent == null) {
            return "unknown";
        }
        try {
            Path py = parent.resolve("version.py");
            if (Files.isRegularFile(py)) {
                for (String line : Files.readAllLines(py)) {
                    if (line.startsWith("__version__")) {
                        return line.substring(line.indexOf('=') + 1)
                                .strip()
                                .replace("'", "")
                                .replace("\"", "");
                    }
                }
            }
            Path bv = parent.resolve("build-version");
            if (Files.isRegularFile(bv)) {
                return Files.readString(bv).strip();
            }
        } catch (IOException ignored) {
            // an unreadable version file leaves the version unknown; the symbols decide usability
        }
        return "unknown";
    }
}
