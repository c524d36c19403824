"""Settings of the wallet: gas margin, fee percentiles and caps (env prefix TIDEWATCH_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WalletSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_", extra="ignore", frozen=True)

    gas_margin_percent: int = Field(
        default=20,
        ge=0,
        le=200,
        description="Added to eth_estimateGas: state can move between prepare and inclusion (rates, "
        "interest accrual) and a tx that runs out of gas still pays for it. 20 % is what wallets use.",
    )
    dependent_gas_margin_percent: int = Field(
        default=40,
        ge=0,
        le=300,
        description="Margin on the simulated gas of a tx that follows an approval in the same bundle "
        "(it cannot be estimated before the approval is mined, and gasUsed < required gas limit).",
    )
    fee_history_blocks: int = Field(default=10, ge=1, le=1024, description="Blocks of eth_feeHistory.")
    base_fee_multiplier_percent: int = Field(
        default=200,
        ge=100,
        le=1000,
        description="maxFeePerGas = base fee x this / 100 + tip: 200 % survives 6 full blocks of +12.5 %.",
    )
    min_priority_fee_wei: int = Field(default=10**6, ge=0, description="Floor of the tip (0.001 gwei).")
    approve_exact: bool = Field(default=True, description="Approve the exact amount, never unlimited.")
    repay_max_buffer_bps: int = Field(
        default=10, ge=0, le=1000, description="Extra approval for 'repay max' to cover interest until mined (bps)."
    )
