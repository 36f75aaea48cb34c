"""Released stage-2 datasets (COCO Captions, VQAv2, GQA, …) converted once into training files:
`prepare.prepare(CONVERTERS[name], release, out)`; the registry is `sources.CONVERTERS`."""
