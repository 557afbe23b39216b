#!/usr/bin/env python3
"""Writes packages/models/test/fixtures/hf-config-types.json: the JSON types that transformers accepts for each
field of the config classes our models save (AltCLIP, CLIP and XLM-R configs). transformers >= 5 validates
config.json fields strictly (a field typed `float` rejects the JSON literal `1`), so the tests check every
config.json we write against this map.

Run with a transformers 5.x install: /opt/torch2/bin/python scripts/gen-hf-config-types.py
"""
import dataclasses
import json
import os
import types
import typing

import torch
import transformers
from transformers import (
    AltCLIPConfig, AltCLIPTextConfig, AltCLIPVisionConfig, CLIPConfig, CLIPTextConfig, CLIPVisionConfig,
    XLMRobertaConfig,
)

CLASSES = [AltCLIPConfig, AltCLIPTextConfig, AltCLIPVisionConfig, CLIPConfig, CLIPTextConfig, CLIPVisionConfig,
           XLMRobertaConfig]


def json_types(t):
    """The JSON literal kinds a Python annotation admits: int, float, str, bool, null, list, dict."""
    if isinstance(t, str):  # base-class fields are annotated as strings ('str | torch.dtype | None')
        t = eval(t, {'torch': torch, 'Literal': typing.Literal, **vars(typing)})
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        return sorted({k for a in typing.get_args(t) for k in json_types(a)})
    if origin is typing.Literal:
        return sorted({json_types(type(a))[0] for a in typing.get_args(t)})
    if origin in (list, tuple) or t in (list, tuple):
        return ['list']
    if origin is dict or t is dict:
        return ['dict']
    if t is type(None):
        return ['null']
    if t is bool:
        return ['bool']
    if t is int:
        return ['int']
    if t is float:
        return ['float']
    if t is str or t is torch.dtype:  # a dtype is saved as its name
        return ['str']
    if isinstance(t, type) and issubclass(t, transformers.PreTrainedConfig):
        return ['dict']
    raise ValueError(f'unmapped annotation {t!r}')


def describe(cls):
    fields = {f.name: json_types(f.type) for f in dataclasses.fields(cls)}
    subs = {k: v.model_type for k, v in getattr(cls, 'sub_configs', {}).items()}
    return {'class': cls.__name__, 'fields': fields, 'sub_configs': subs}


out = {
    'generated_by': 'scripts/gen-hf-config-types.py',
    'transformers_version': transformers.__version__,
    'model_types': {cls.model_type: describe(cls) for cls in CLASSES},
}
dest = os.path.join(os.path.dirname(__file__), '..', 'packages', 'models', 'test', 'fixtures', 'hf-config-types.json')
os.makedirs(os.path.dirname(dest), exist_ok=True)
with open(dest, 'w') as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write('\n')
print(f'wrote {os.path.normpath(dest)} ({len(CLASSES)} classes, transformers {transformers.__version__})')
