package dev.jepd.api;

import java.util.List;

/** The names a node answers to ({@code --served-model-name}); the first is the default. */
public record ServedModels(List<String> names) {
    public ServedModels {
        if (names.isEmpty()) {
            throw new IllegalArgumentException("at least one served model name");
        }
        names = List.copyOf(names);
    }

    /** The request's model, or the default when it names none; an unknown name is vLLM's 404. */
    public String resolve(String requested) {
        if (requested == null) {
            return names.getFirst();
        }
        if (!names.contains(requested)) {
            throw new ApiException(404, "NotFoundError", "The model `" + requested + "` does not exist.", "model");
        }
        return requested;
    }

    public String first() {
        return names.getFirst();
    }
}
