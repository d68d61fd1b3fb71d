package dev.jepd.arch;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * The module rules of ARCHITECTURE.md as a failing test, over every JEPD class (this module sees them all). The
 * Maven enforcer in each module's pom keeps the jars off the classpaths; this test keeps the imports out of the code.
 */
@AnalyzeClasses(
        packages = "dev.jepd",
        importOptions = {ImportOption.DoNotIncludeTests.class, ArchitectureTest.NoTestJars.class})
class ArchitectureTest {
    /** Test helpers shared as test-jars (golden cases, tiny models) are tests, not production code. */
    static final class NoTestJars implements ImportOption {
        @Override
        public boolean includes(Location location) {
            return !location.contains("-tests.jar");
        }
    }

    /**
     * No DJL tensor classes anywhere: libtorch is reached through its C ABI in {@code tensor-torch} only (DJL's Hugging
     * Face tokenizers binding is a tokenizer, not a tensor library, and stays).
     */
    @ArchTest
    static final ArchRule tensorLibraryOnlyInItsBackend = noClasses()
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage("ai.djl.ndarray..", "ai.djl.pytorch..", "ai.djl.engine..", "ai.djl.nn..");

    /** HTTP is the edge: the api module, the serving layer of the nodes, the nodes and the proxy. */
    @ArchTest
    static final ArchRule undertowOnlyAtTheEdge = noClasses()
            .that()
            .resideOutsideOfPackages(
                    "dev.jepd.api..", "dev.jepd.serving..", "dev.jepd.encoder..", "dev.jepd.pd..", "dev.jepd.proxy..")
            .should()
            .dependOnClassesThat()
            .resideInAPackage("io.undertow..");

    @ArchTest
    static final ArchRule proxyStandsOnApiAndMediaOnly = noClasses()
            .that()
            .resideInAPackage("dev.jepd.proxy..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    "dev.jepd.engine..",
                    "dev.jepd.tensor..",
                    "dev.jepd.ffi..",
                    "dev.jepd.transfer..",
                    "dev.jepd.serving..",
                    "dev.jepd.models..",
                    "dev.jepd.encoder..",
                    "dev.jepd.pd..",
                    "ai.djl..");

    /** Model code is maths over the tensor SPI: no tensor library, no native memory, no transport, no HTTP. */
    @ArchTest
    static final ArchRule modelsSeeOnlyTheSpi = noClasses()
            .that()
            .resideInAPackage("dev.jepd.models..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    "java.lang.foreign..",
                    "ai.djl..",
                    "dev.jepd.tensor.torch..",
                    "dev.jepd.ffi..",
                    "dev.jepd.transfer..",
                    "dev.jepd.api..",
                    "dev.jepd.serving..");

    /** Native calls (downcalls, symbol lookup) only in native/, the tensor backends and transfer. */
    @ArchTest
    static final ArchRule nativeCallsOnlyBelow = noClasses()
            .that()
            .resideOutsideOfPackages("dev.jepd.ffi..", "dev.jepd.tensor..", "dev.jepd.transfer..")
            .should()
            .dependOnClassesThat()
            .haveFullyQualifiedName("java.lang.foreign.Linker")
            .orShould()
            .dependOnClassesThat()
            .haveFullyQualifiedName("java.lang.foreign.SymbolLookup");

    /** The engine core knows no transport, no HTTP, no node and no model family. */
    @ArchTest
    static final ArchRule coreIsBelowEverything = noClasses()
            .that()
            .resideInAPackage("dev.jepd.engine..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    "dev.jepd.api..",
                    "dev.jepd.serving..",
                    "dev.jepd.transfer..",
                    "dev.jepd.models..",
                    "dev.jepd.encoder..",
                    "dev.jepd.pd..",
                    "dev.jepd.proxy..",
                    "dev.jepd.cli..",
                    "dev.jepd.ffi..",
                    "io.undertow..");

    /** The two node kinds do not reach into each other; what they share is in engine/serving. */
    @ArchTest
    static final ArchRule nodesAreIndependent = noClasses()
            .that()
            .resideInAPackage("dev.jepd.encoder..")
            .should()
            .dependOnClassesThat()
            .resideInAPackage("dev.jepd.pd..")
            .orShould()
            .dependOnClassesThat()
            .resideInAPackage("dev.jepd.cli..");

    /** The text decoder is a text decoder: a vision-language model adds a prefix map and a vision tower around it. */
    @ArchTest
    static final ArchRule textDecoderKnowsNoVisionLanguageModel = noClasses()
            .that()
            .resideInAPackage("dev.jepd.models.qwen2..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage("dev.jepd.models.qwen25vl..", "dev.jepd.models.qwenvl..", "dev.jepd.models.tiny..");
}
