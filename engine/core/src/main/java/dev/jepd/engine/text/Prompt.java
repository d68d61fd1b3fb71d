package dev.jepd.engine.text;

import java.util.Arrays;
import java.util.List;

/**
 * Model input ids, image placeholders already expanded, with the spans where image embeddings go (in prompt
 * order).
 */
public record Prompt(int[] ids, List<ImageSpan> spans) {
    public Prompt {
        ids = ids.clone();
        spans = List.copyOf(spans);
    }

    /** A copy of the ids. */
    @Override
    public int[] ids() {
        return ids.clone();
    }

    public int length() {
        return ids.length;
    }

    public int id(int position) {
        return ids[position];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Prompt p && Arrays.equals(ids, p.ids) && spans.equals(p.spans);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + spans.hashCode();
    }

    @Override
    public String toString() {
        return "Prompt[" + ids.length + " ids, spans=" + spans + "]";
    }
}
